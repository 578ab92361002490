/*
 * test_auth: telling passphrase-protected key files from plain ones, for the
 * formats ssh-keygen writes (openssh-key-v1) and the PEM ones OpenSSL writes.
 * The prompts and the methods themselves need a server: the netns tests.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../client/ssh/auth.h"
#include "t.h"

static char tmpdir[64];

/* The first lines are enough: only the cipher name near the start is read. */
static const char openssh_plain[] =
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACAt1FGJZTvV54AVbYOZe+cnvXC8AhF5v8IMtklD0yMLXAAAAIjK6Ppjyuj6\n"
    "-----END OPENSSH PRIVATE KEY-----\n";
static const char openssh_aes[] =
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAACmFlczI1Ni1jdHIAAAAGYmNyeXB0AAAAGAAAABDJZ5WHMb\n"
    "YJ94qq7lIWVtBAAAAAEAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIG40PbG7G3ZdRcr3\n"
    "-----END OPENSSH PRIVATE KEY-----\n";

static int check_text(const char *text)
{
	char path[128];
	int r;

	snprintf(path, sizeof(path), "%s/key", tmpdir);
	if (t_write_file(path, text, strlen(text)) < 0)
		return -100;
	r = auth_key_encrypted(path);
	unlink(path);
	return r;
}

static void test_openssh_format(void)
{
	CHECK_EQ_INT(check_text(openssh_plain), 0);
	CHECK_EQ_INT(check_text(openssh_aes), 1);
}

static void test_pem_formats(void)
{
	CHECK_EQ_INT(check_text("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"
				"DEK-Info: AES-128-CBC,00\n\nMIIE\n"),
		     1);
	CHECK_EQ_INT(check_text("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIE\n"), 1);
	CHECK_EQ_INT(check_text("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n"), 0);
	CHECK_EQ_INT(check_text("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIE\n"), 0);
}

static void test_broken_files(void)
{
	CHECK_EQ_INT(check_text("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n"), -EINVAL);
	CHECK_EQ_INT(check_text("-----BEGIN OPENSSH PRIVATE KEY-----\n"), -EINVAL);
	/* The cipher name's length runs past what was decoded. */
	CHECK_EQ_INT(check_text("-----BEGIN OPENSSH PRIVATE KEY-----\n"
				"b3BlbnNzaC1rZXktdjEA/////w==\n"),
		     -EINVAL);
	CHECK_EQ_INT(auth_key_encrypted("/nonexistent/sluice/key"), -ENOENT);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_auth.XXXXXX");
	if (!mkdtemp(tmpdir))
		return 2;
	RUN(test_openssh_format);
	RUN(test_pem_formats);
	RUN(test_broken_files);
	rmdir(tmpdir);
	T_EXIT();
}
