/*
 * Unit tests for client/ssh/aesctr.c: the bulk-keystream AES-CTR must give the
 * same bytes as OpenSSL's own AES-CTR for every key size, chunking, IV
 * (counter carry included), in-place use, separate key/IV setup, re-keying
 * and context copies; and the dynamic linker must hand our cipher to
 * libssh2, which looks the symbol up in the global scope.
 */
#include <dlfcn.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "../../client/ssh/aesctr.h"
#include "t.h"

struct kind {
	const EVP_CIPHER *(*get)(void);
	const char *name;
	int key_len;
};

static const struct kind kinds[] = {
    {EVP_aes_128_ctr, "AES-128-CTR", 16},
    {EVP_aes_192_ctr, "AES-192-CTR", 24},
    {EVP_aes_256_ctr, "AES-256-CTR", 32},
};

static unsigned rnd(unsigned n)
{
	return (unsigned)random() % n;
}

/* OpenSSL's own AES-CTR over the whole buffer in one call: the reference. */
static int reference(const char *name, const unsigned char *key, const unsigned char *iv,
		     const unsigned char *in, unsigned char *out, size_t len)
{
	EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, name, NULL);
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	int outl = 0, ok = c && x && EVP_EncryptInit_ex(x, c, NULL, key, iv) &&
			   EVP_EncryptUpdate(x, out, &outl, in, (int)len) && (size_t)outl == len;

	EVP_CIPHER_CTX_free(x);
	EVP_CIPHER_free(c);
	return ok;
}

/* Feed buf through ctx in random pieces, mostly 16 bytes as libssh2 1.10 does. */
static int run_chunks(EVP_CIPHER_CTX *ctx, const unsigned char *in, unsigned char *out, size_t len)
{
	size_t off = 0;

	while (off < len) {
		size_t n = rnd(4) ? 16 : rnd(9000) + 1;

		if (n > len - off)
			n = len - off;
		/* A custom cipher: EVP_Cipher returns the bytes done, -1 on failure. */
		if (EVP_Cipher(ctx, out + off, in + off, (unsigned)n) != (int)n)
			return 0;
		off += n;
	}
	return 1;
}

static void test_interposed(void)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		const EVP_CIPHER *ours = kinds[i].get();
		EVP_CIPHER *real = EVP_CIPHER_fetch(NULL, kinds[i].name, NULL);
		char sym[32];

		snprintf(sym, sizeof(sym), "EVP_aes_%d_ctr", kinds[i].key_len * 8);
		/* libssh2's reference binds to whatever the global scope finds first. */
		CHECK(dlsym(RTLD_DEFAULT, sym) == (void *)kinds[i].get);
		CHECK(ours != NULL && ours != real);
		CHECK_EQ_INT(EVP_CIPHER_get_nid(ours), EVP_CIPHER_get_nid(real));
		CHECK_EQ_INT(EVP_CIPHER_get_key_length(ours), kinds[i].key_len);
		CHECK_EQ_INT(EVP_CIPHER_get_iv_length(ours), 16);
		CHECK_EQ_INT(EVP_CIPHER_get_mode(ours), EVP_CIPH_CTR_MODE);
		EVP_CIPHER_free(real);
	}
}

static void test_matches_openssl(void)
{
	enum { MAX = 70000 };
	unsigned char *in = malloc(MAX), *want = malloc(MAX), *got = malloc(MAX);
	unsigned long before = aesctr_contexts();
	int bad = 0;

	for (int trial = 0; trial < 60 && in && want && got; trial++) {
		const struct kind *k = &kinds[trial % 3];
		unsigned char key[32], iv[16];
		size_t len = rnd(MAX) + 1;
		EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

		RAND_bytes(key, sizeof(key));
		RAND_bytes(iv, sizeof(iv));
		/* Counters near the top make the carry run through all 128 bits. */
		if (trial % 4 == 1)
			memset(iv, 0xff, sizeof(iv));
		else if (trial % 4 == 2)
			memset(iv + 8, 0xff, 8);
		RAND_bytes(in, (int)len);
		if (!reference(k->name, key, iv, in, want, len) || !ctx) {
			bad++;
			EVP_CIPHER_CTX_free(ctx);
			continue;
		}
		/* Set up the way libssh2 1.10 does it. */
		if (EVP_CipherInit(ctx, k->get(), key, iv, trial & 1) != 1)
			bad++;
		else if ((trial / 3) % 2 == 0) {
			memcpy(got, in, len);
			if (!run_chunks(ctx, got, got, len) || memcmp(got, want, len))
				bad++;
		} else if (!run_chunks(ctx, in, got, len) || memcmp(got, want, len))
			bad++;
		EVP_CIPHER_CTX_free(ctx);
	}
	CHECK(in && want && got);
	CHECK_EQ_INT(bad, 0);
	CHECK(aesctr_contexts() >= before + 60);
	free(in);
	free(want);
	free(got);
}

static void test_split_setup_rekey_copy(void)
{
	unsigned char key[16], key2[16], iv[16], iv2[16], in[20000], want[20000], got[20000],
	    got2[20000];
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new(), *dup = EVP_CIPHER_CTX_new();

	CHECK(ctx && dup);
	if (!ctx || !dup)
		goto out;
	RAND_bytes(key, sizeof(key));
	RAND_bytes(key2, sizeof(key2));
	RAND_bytes(iv, sizeof(iv));
	RAND_bytes(iv2, sizeof(iv2));
	RAND_bytes(in, sizeof(in));

	/* Key and IV given in separate calls. */
	CHECK(reference("AES-128-CTR", key, iv, in, want, sizeof(in)));
	CHECK(EVP_CipherInit_ex(ctx, EVP_aes_128_ctr(), NULL, NULL, NULL, 1) == 1);
	CHECK(EVP_CipherInit_ex(ctx, NULL, NULL, key, NULL, 1) == 1);
	CHECK(EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, 1) == 1);
	CHECK(run_chunks(ctx, in, got, 5000));

	/* A copy taken mid-stream carries on independently and identically. */
	CHECK(EVP_CIPHER_CTX_copy(dup, ctx) == 1);
	CHECK(run_chunks(ctx, in + 5000, got + 5000, sizeof(in) - 5000));
	memcpy(got2, got, 5000);
	CHECK(run_chunks(dup, in + 5000, got2 + 5000, sizeof(in) - 5000));
	CHECK(memcmp(got, want, sizeof(in)) == 0);
	CHECK(memcmp(got2, want, sizeof(in)) == 0);

	/* New key and IV on a used context: no keystream of the old key survives. */
	CHECK(reference("AES-128-CTR", key2, iv2, in, want, sizeof(in)));
	CHECK(EVP_CipherInit_ex(ctx, NULL, NULL, key2, iv2, 1) == 1);
	CHECK(run_chunks(ctx, in, got, sizeof(in)));
	CHECK(memcmp(got, want, sizeof(in)) == 0);
	/* A key alone on a used context would continue an old counter: refused. */
	CHECK(EVP_CipherInit_ex(ctx, NULL, NULL, key, NULL, 1) != 1);
out:
	EVP_CIPHER_CTX_free(ctx);
	EVP_CIPHER_CTX_free(dup);
}

/* Failures reach libssh2 as -1 (it takes anything else as success); the EVP_Encrypt* API works. */
static void test_errors_and_evp_api(void)
{
	unsigned char key[16] = {1}, iv[16] = {2}, in[1000], want[1000], got[1000];
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int outl = -1, fin = -1;

	CHECK(ctx != NULL);
	if (!ctx)
		return;
	CHECK(EVP_CipherInit_ex(ctx, EVP_aes_128_ctr(), NULL, NULL, NULL, 1) == 1);
	CHECK_EQ_INT(EVP_Cipher(ctx, got, in, 16), -1);
	CHECK(EVP_CipherInit_ex(ctx, NULL, NULL, key, NULL, 1) == 1);
	CHECK_EQ_INT(EVP_Cipher(ctx, got, in, 16), -1); /* still no IV */

	RAND_bytes(in, sizeof(in));
	CHECK(reference("AES-128-CTR", key, iv, in, want, sizeof(in)));
	CHECK(EVP_EncryptInit_ex(ctx, EVP_aes_128_ctr(), NULL, key, iv) == 1);
	CHECK(EVP_EncryptUpdate(ctx, got, &outl, in, 100) == 1);
	CHECK_EQ_INT(outl, 100);
	/* A call with nothing to set changes nothing, mid-stream included. */
	CHECK(EVP_CipherInit_ex(ctx, NULL, NULL, NULL, NULL, 1) == 1);
	CHECK(EVP_EncryptUpdate(ctx, got + 100, &outl, in + 100, (int)sizeof(in) - 100) == 1);
	CHECK_EQ_INT(outl, sizeof(in) - 100);
	CHECK(EVP_EncryptFinal_ex(ctx, got + sizeof(in), &fin) == 1);
	CHECK_EQ_INT(fin, 0);
	CHECK(memcmp(got, want, sizeof(in)) == 0);
	EVP_CIPHER_CTX_free(ctx);
}

int main(void)
{
	srandom(7);
	RUN(test_interposed);
	RUN(test_matches_openssl);
	RUN(test_split_setup_rekey_copy);
	RUN(test_errors_and_evp_api);
	T_EXIT();
}
