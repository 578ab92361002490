/* Unit tests for SHA-256 against FIPS 180-4 vectors, and for the id map. */
#include <stdlib.h>
#include <string.h>

#include "../../common/idmap.h"
#include "../../common/sha256.h"
#include "t.h"

static void hex_of(const char *msg, size_t len, char out[SHA256_HEX])
{
	uint8_t d[SHA256_LEN];
	sha256_buf(msg, len, d);
	sha256_hex(d, out);
}

static void test_vectors(void)
{
	char hex[SHA256_HEX];

	hex_of("", 0, hex);
	CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	hex_of("abc", 3, hex);
	CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	hex_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, hex);
	CHECK_STR(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_million_a_incremental(void)
{
	struct sha256 c;
	uint8_t d[SHA256_LEN], chunk[997];
	char hex[SHA256_HEX];
	size_t left = 1000000;

	memset(chunk, 'a', sizeof(chunk));
	sha256_init(&c);
	/* An odd chunk size crosses block boundaries at every offset. */
	while (left) {
		size_t n = left < sizeof(chunk) ? left : sizeof(chunk);
		sha256_update(&c, chunk, n);
		left -= n;
	}
	sha256_final(&c, d);
	sha256_hex(d, hex);
	CHECK_STR(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_idmap(void)
{
	struct idmap m;
	uint32_t i;
	int bad = 0;

	idmap_init(&m);
	CHECK(idmap_get(&m, 5) == NULL);
	CHECK_EQ_INT(idmap_put(&m, 0, &m), -22);
	for (i = 1; i <= 20000; i++)
		if (idmap_put(&m, i * 7, (void *)(uintptr_t)i) != 0)
			bad++;
	CHECK_EQ_INT(idmap_put(&m, 7, &m), -17);
	CHECK_EQ_INT(m.count, 20000);
	/* Delete every third, then every survivor must still be found. */
	for (i = 1; i <= 20000; i += 3)
		if (idmap_del(&m, i * 7) != (void *)(uintptr_t)i)
			bad++;
	for (i = 1; i <= 20000; i++) {
		void *v = idmap_get(&m, i * 7);
		if ((i - 1) % 3 == 0 ? v != NULL : v != (void *)(uintptr_t)i)
			bad++;
	}
	CHECK(idmap_del(&m, 999999) == NULL);
	CHECK_EQ_INT(bad, 0);
	idmap_free(&m);
}

int main(void)
{
	RUN(test_vectors);
	RUN(test_million_a_incremental);
	RUN(test_idmap);
	T_EXIT();
}
