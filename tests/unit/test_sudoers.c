/*
 * test_sudoers: the line --sudoers-user prints, for a user and for a
 * %group, plain and --all-users, and the names it refuses to print one for.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../../client/priv/priv_client.h"
#include "t.h"

static char out[4096], err[512];

/* The last line of text: the rule itself; the rest are comments. */
static const char *rule_of(const char *text)
{
	size_t n = strlen(text);
	const char *p;

	if (!n || text[n - 1] != '\n')
		return "";
	for (p = text + n - 1; p > text && p[-1] != '\n'; p--)
		;
	return p;
}

/* Every line but the rule is a comment, so sudoers reads one line only. */
static bool only_comments_above(const char *text)
{
	const char *rule = rule_of(text), *p;

	for (p = text; p < rule; p = strchr(p, '\n') + 1)
		if (*p != '#')
			return false;
	return true;
}

static void test_line_user(void)
{
	CHECK_EQ_INT(privc_sudoers_line("alice", "/usr/bin/sluice", false, out, sizeof(out)), 0);
	CHECK_STR(rule_of(out), "alice ALL=(root) NOPASSWD: /usr/bin/sluice --privileged\n");
	CHECK(only_comments_above(out));
	CHECK(strstr(out, "only alice's own connections") != NULL);
	CHECK(strstr(out, "/etc/sudoers.d/sluice-alice\n") != NULL);

	CHECK_EQ_INT(privc_sudoers_line("alice", "/usr/bin/sluice", true, out, sizeof(out)), 0);
	CHECK_STR(rule_of(out),
		  "alice ALL=(root) NOPASSWD: /usr/bin/sluice --privileged --all-users\n");
	CHECK(only_comments_above(out));
	CHECK(strstr(out, "EVERY local user's connections") != NULL);
	CHECK(strstr(out, "/etc/sudoers.d/sluice-alice-all\n") != NULL);
}

static void test_line_group(void)
{
	CHECK_EQ_INT(privc_sudoers_line("%netops", "/usr/bin/sluice", false, out, sizeof(out)), 0);
	CHECK_STR(rule_of(out), "%netops ALL=(root) NOPASSWD: /usr/bin/sluice --privileged\n");
	CHECK(only_comments_above(out));
	CHECK(strstr(out, "# Lets members of group netops ") != NULL);
	CHECK(strstr(out, "only their own connections") != NULL);
	CHECK(strstr(out, "/etc/sudoers.d/sluice-group-netops\n") != NULL);
	/* The file name it suggests spells the group out rather than keep the '%'. */
	CHECK(strstr(out, "sluice-%") == NULL);

	CHECK_EQ_INT(privc_sudoers_line("%netops", "/usr/bin/sluice", true, out, sizeof(out)), 0);
	CHECK_STR(rule_of(out),
		  "%netops ALL=(root) NOPASSWD: /usr/bin/sluice --privileged --all-users\n");
	CHECK(only_comments_above(out));
	CHECK(strstr(out, "# Lets members of group netops ") != NULL);
	CHECK(strstr(out, "EVERY local user's connections") != NULL);
	CHECK(strstr(out, "/etc/sudoers.d/sluice-group-netops-all\n") != NULL);
}

/* Too small a buffer is an error, never a line cut short that sudoers would still read. */
static void test_line_too_long(void)
{
	size_t need;

	CHECK_EQ_INT(privc_sudoers_line("%netops", "/usr/bin/sluice", true, out, sizeof(out)), 0);
	need = strlen(out) + 1;
	CHECK_EQ_INT(privc_sudoers_line("%netops", "/usr/bin/sluice", true, out, need), 0);
	CHECK_EQ_INT(privc_sudoers_line("%netops", "/usr/bin/sluice", true, out, need - 1),
		     -ENOSPC);
	CHECK_EQ_INT(privc_sudoers_line("%netops", "/usr/bin/sluice", true, out, 40), -ENOSPC);
}

static void test_refused_names(void)
{
	static const struct {
		const char *who, *err;
	} bad[] = {
	    {"%sluice-no-such-group", "--sudoers-user: no such group 'sluice-no-such-group'"},
	    {"%", "--sudoers-user: no such group ''"},
	    {"%-root", "--sudoers-user: no such group '-root'"},
	    {"%+root", "--sudoers-user: no such group '+root'"},
	    {"%ro ot", "--sudoers-user: no such group 'ro ot'"},
	    {"%root,ALL", "--sudoers-user: no such group 'root,ALL'"},
	    {"sluice-no-such-user", "--sudoers-user: no such user 'sluice-no-such-user'"},
	    {"", "--sudoers-user: no such user ''"},
	    {"+root", "--sudoers-user: no such user '+root'"},
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		CHECK_EQ_INT(privc_sudoers(bad[i].who, false, out, sizeof(out), err, sizeof(err)),
			     -EINVAL);
		CHECK_STR(err, bad[i].err);
	}
}

/*
 * Root's group exists everywhere; whether the line is printed depends on
 * who owns the directories this test runs from, so both outcomes are
 * checked for what they must say.
 */
static void test_group_exists(void)
{
	char self[PATH_MAX], want[PATH_MAX + 64];
	int ret;

	err[0] = '\0';
	ret = privc_sudoers("%root", true, out, sizeof(out), err, sizeof(err));
	CHECK(ret == 0 || ret == -EPERM);
	if (ret == -EPERM) {
		CHECK(strstr(err, "is not root's alone") != NULL);
		return;
	}
	CHECK(realpath("/proc/self/exe", self) != NULL);
	snprintf(want, sizeof(want), "%%root ALL=(root) NOPASSWD: %s --privileged --all-users\n",
		 self);
	CHECK_STR(rule_of(out), want);
}

int main(void)
{
	RUN(test_line_user);
	RUN(test_line_group);
	RUN(test_line_too_long);
	RUN(test_refused_names);
	RUN(test_group_exists);
	T_EXIT();
}
