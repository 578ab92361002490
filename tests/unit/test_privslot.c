/*
 * test_privslot: the per-user bound on privileged parts (client/priv/
 * priv_slot.c) in a temp dir: slots run out per user, come back on
 * release and when a holder is killed, and a directory others can write to,
 * or a planted link, is refused.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "../../client/priv/priv_slot.h"
#include "t.h"

static char base[64], dir[96];

static void test_slots_per_user(void)
{
	struct priv_slot s[4], other;
	struct stat st;

	CHECK_EQ_INT(priv_slot_take(&s[0], dir, 1000, 3), 0);
	CHECK_EQ_INT(priv_slot_take(&s[1], dir, 1000, 3), 1);
	CHECK_EQ_INT(priv_slot_take(&s[2], dir, 1000, 3), 2);
	CHECK_EQ_INT(priv_slot_take(&s[3], dir, 1000, 3), -EUSERS);
	CHECK_EQ_INT(stat(dir, &st), 0);
	CHECK_EQ_INT(st.st_mode & 07777, 0700);
	/* Another user's count is its own. */
	CHECK_EQ_INT(priv_slot_take(&other, dir, 1001, 3), 0);
	priv_slot_release(&s[1], dir);
	CHECK_EQ_INT(priv_slot_take(&s[3], dir, 1000, 3), 1);
	priv_slot_release(&s[0], dir);
	priv_slot_release(&s[2], dir);
	priv_slot_release(&s[3], dir);
	priv_slot_release(&other, dir);
	/* The last one out removes the directory. */
	CHECK(access(dir, F_OK) < 0 && errno == ENOENT);
}

/* A holder killed outright (SIGKILL) gives its slot back with its life. */
static void test_slot_of_killed_part(void)
{
	struct priv_slot s;
	int p[2], status;
	char c = 0;
	pid_t pid;

	CHECK_EQ_INT(pipe(p), 0);
	pid = fork();
	if (pid == 0) {
		struct priv_slot mine;

		close(p[0]);
		c = priv_slot_take(&mine, dir, 1000, 1) == 0 ? 'y' : 'n';
		if (write(p[1], &c, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(p[1]);
	CHECK(pid > 0);
	CHECK(read(p[0], &c, 1) == 1 && c == 'y');
	close(p[0]);
	CHECK_EQ_INT(priv_slot_take(&s, dir, 1000, 1), -EUSERS);
	kill(pid, SIGKILL);
	CHECK_EQ_INT(waitpid(pid, &status, 0), pid);
	CHECK_EQ_INT(priv_slot_take(&s, dir, 1000, 1), 0);
	priv_slot_release(&s, dir);
	CHECK(access(dir, F_OK) < 0);
}

static void test_slot_dir_refused(void)
{
	struct priv_slot s;
	char link[128], target[128];

	CHECK_EQ_INT(mkdir(dir, 0700), 0);
	CHECK_EQ_INT(chmod(dir, 0770), 0);
	CHECK_EQ_INT(priv_slot_take(&s, dir, 1000, 2), -EPERM);
	CHECK_EQ_INT(chmod(dir, 0700), 0);
	/* A link where a slot's file goes is not followed. */
	snprintf(link, sizeof(link), "%s/1000.0", dir);
	snprintf(target, sizeof(target), "%s/elsewhere", base);
	CHECK_EQ_INT(symlink(target, link), 0);
	CHECK_EQ_INT(priv_slot_take(&s, dir, 1000, 2), -ELOOP);
	CHECK(access(target, F_OK) < 0);
	unlink(link);
	rmdir(dir);
}

/* The slots' directory and its parent are made when missing (the parent stays). */
static void test_slot_parent_made(void)
{
	struct priv_slot s;
	char parent[128], deep[160];
	struct stat st;

	snprintf(parent, sizeof(parent), "%s/run", base);
	snprintf(deep, sizeof(deep), "%s/slots", parent);
	CHECK_EQ_INT(priv_slot_take(&s, deep, 1000, 1), 0);
	CHECK_EQ_INT(stat(parent, &st), 0);
	CHECK_EQ_INT(st.st_mode & 0777, 0700);
	priv_slot_release(&s, deep);
	CHECK(access(deep, F_OK) < 0);
	CHECK_EQ_INT(rmdir(parent), 0);
}

int main(void)
{
	snprintf(base, sizeof(base), "/tmp/sluice-slot-XXXXXX");
	if (!mkdtemp(base)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s/priv", base);
	RUN(test_slots_per_user);
	RUN(test_slot_of_killed_part);
	RUN(test_slot_dir_refused);
	RUN(test_slot_parent_made);
	if (rmdir(base) < 0)
		printf("FAIL cleanup: %s not empty\n", base);
	T_EXIT();
}
