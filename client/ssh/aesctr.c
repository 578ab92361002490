/*
 * aesctr: AES-CTR for libssh2 with the keystream made in bulk.
 *
 * libssh2 1.10 runs its cipher one 16-byte block at a time: one EVP_Cipher
 * call, and a memcpy, per block. Under OpenSSL 3 each call costs several
 * times the AES work it does, and perf showed about 45% of the client's
 * core in that path during a download. CTR mode needs no input to make its
 * keystream, so this module makes 4 KiB of keystream with one call and
 * XORs each block out of it.
 *
 * libssh2 asks libcrypto for the cipher through EVP_aes_{128,192,256}_ctr().
 * This file defines those three symbols in the executable, which the dynamic
 * linker prefers over libcrypto's, and returns an EVP_CIPHER whose state is
 * a real OpenSSL AES-CTR context plus the unused keystream. Nothing here
 * does AES itself: the bytes are OpenSSL's, in the same order, so the wire
 * is unchanged (a re-init that would continue an old counter is refused).
 * The state lives in the cipher context and dies with it.
 *
 * SLUICE_PLAIN_CTR=1 in the environment turns this off (libssh2 then gets
 * OpenSSL's own cipher), for comparison and as a way out.
 *
 * Owns: the three EVP_CIPHER method tables, and pointers to libcrypto's own
 * AES-CTR ciphers found past this executable with dlsym(RTLD_NEXT).
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* EVP_CIPHER_meth_*: the only hook 1.10 leaves */
#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <openssl/objects.h>

#include <dlfcn.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aesctr.h"

#define KS_BYTES 4096

struct ctr_state {
	EVP_CIPHER_CTX *inner; /* OpenSSL's AES-CTR; its counter runs ahead of ours */
	size_t used;	       /* bytes of ks already handed out */
	int produced;	       /* keystream was made since the IV was last set */
	int key_set, iv_set;   /* OpenSSL would make keystream without them; we refuse */
	unsigned char ks[KS_BYTES];
};

struct variant {
	int nid;
	int key_len;
	const char *sym;
	const EVP_CIPHER *real; /* libcrypto's own, found past this executable */
	EVP_CIPHER *ours;
	int tried;
};

static struct variant variants[] = {
    {NID_aes_128_ctr, 16, "EVP_aes_128_ctr", NULL, NULL, 0},
    {NID_aes_192_ctr, 24, "EVP_aes_192_ctr", NULL, NULL, 0},
    {NID_aes_256_ctr, 32, "EVP_aes_256_ctr", NULL, NULL, 0},
};

static const unsigned char zeros[KS_BYTES];
static unsigned long n_contexts;

static struct variant *variant_of(const EVP_CIPHER_CTX *ctx)
{
	int nid = EVP_CIPHER_CTX_get_nid(ctx);

	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++)
		if (variants[i].nid == nid)
			return &variants[i];
	return NULL;
}

static int ctr_init(EVP_CIPHER_CTX *ctx, const unsigned char *key, const unsigned char *iv, int enc)
{
	struct ctr_state *st = EVP_CIPHER_CTX_get_cipher_data(ctx);
	struct variant *v = variant_of(ctx);

	if (!st || !v || !v->real)
		return 0;
	if (!st->inner) {
		st->inner = EVP_CIPHER_CTX_new();
		if (!st->inner)
			return 0;
		if (!EVP_EncryptInit_ex(st->inner, v->real, NULL, NULL, NULL))
			return 0;
		n_contexts++;
	}
	/* Nothing to set (a call that only restates the direction): CTR has no direction. */
	if (!key && !iv)
		return 1;
	/* Whatever happens next, no keystream made before this call is served after it. */
	st->used = KS_BYTES;
	/*
	 * The inner counter runs ahead of what was handed out, so continuing
	 * the old counter under a new key would not match plain AES-CTR. No
	 * caller does that (libssh2 sets key and IV together); refuse it.
	 */
	if (!iv && st->produced)
		return 0;
	/* Either may be NULL; OpenSSL keeps the other. CTR is the same both ways. */
	if (!EVP_EncryptInit_ex(st->inner, NULL, NULL, key, iv))
		return 0;
	if (key)
		st->key_set = 1;
	if (iv) {
		st->iv_set = 1;
		st->produced = 0;
	}
	return 1;
}

static int ctr_refill(struct ctr_state *st)
{
	int outl = 0;

	if (!EVP_EncryptUpdate(st->inner, st->ks, &outl, zeros, KS_BYTES) || outl != KS_BYTES)
		return 0;
	st->used = 0;
	st->produced = 1;
	return 1;
}

/* in and out may be the same buffer: each word is read before it is written. */
static void ctr_xor(unsigned char *out, const unsigned char *in, const unsigned char *k, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t a, b;

		memcpy(&a, in + i, 8);
		memcpy(&b, k + i, 8);
		a ^= b;
		memcpy(out + i, &a, 8);
	}
	for (; i < n; i++)
		out[i] = in[i] ^ k[i];
}

/*
 * A custom cipher (EVP_CIPH_FLAG_CUSTOM_CIPHER): returns the bytes written
 * or -1. libssh2 1.10 treats anything but -1 from EVP_Cipher as success,
 * so a failure must be -1, never 0.
 */
static int ctr_do_cipher(EVP_CIPHER_CTX *ctx, unsigned char *out, const unsigned char *in,
			 size_t len)
{
	struct ctr_state *st = EVP_CIPHER_CTX_get_cipher_data(ctx);
	size_t total = len;

	if (!in)
		return 0; /* the Final call: a stream cipher has nothing left */
	if (!st || !st->inner || !st->key_set || !st->iv_set || len > INT_MAX)
		return -1;
	while (len > 0) {
		if (st->used == KS_BYTES && !ctr_refill(st))
			return -1;

		size_t n = KS_BYTES - st->used;
		const unsigned char *k = st->ks + st->used;

		if (n > len)
			n = len;
		ctr_xor(out, in, k, n);
		st->used += n;
		out += n;
		in += n;
		len -= n;
	}
	return (int)total;
}

static int ctr_cleanup(EVP_CIPHER_CTX *ctx)
{
	struct ctr_state *st = EVP_CIPHER_CTX_get_cipher_data(ctx);

	if (st) {
		EVP_CIPHER_CTX_free(st->inner);
		st->inner = NULL;
		OPENSSL_cleanse(st->ks, sizeof(st->ks));
	}
	return 1;
}

static int ctr_ctrl(EVP_CIPHER_CTX *ctx, int type, int arg, void *ptr)
{
	struct ctr_state *st = EVP_CIPHER_CTX_get_cipher_data(ctx);

	if (type != EVP_CTRL_COPY)
		return -1;
	/* OpenSSL copied the state bytes; the copy needs its own inner context. */
	EVP_CIPHER_CTX *to = ptr;
	struct ctr_state *dst = EVP_CIPHER_CTX_get_cipher_data(to);

	if (!st || !dst || !st->inner)
		return 1;
	dst->inner = EVP_CIPHER_CTX_new();
	if (!dst->inner || !EVP_CIPHER_CTX_copy(dst->inner, st->inner)) {
		EVP_CIPHER_CTX_free(dst->inner);
		dst->inner = NULL;
		OPENSSL_cleanse(dst->ks, sizeof(dst->ks));
		return 0;
	}
	n_contexts++;
	return 1;
}

/*
 * libcrypto calls these getters from inside its own one-time init (to fill
 * its name table), so nothing here may call back into anything that waits
 * for that init, EVP_CIPHER_fetch included: it would deadlock. dlsym and
 * the method constructors are safe.
 */
static void variant_setup(struct variant *v)
{
	EVP_CIPHER *c = NULL;
	const char *off = getenv("SLUICE_PLAIN_CTR");
	const EVP_CIPHER *(*get)(void);

	v->tried = 1;
	*(void **)&get = dlsym(RTLD_NEXT, v->sym);
	v->real = get ? get() : NULL;
	if (!v->real || (off && *off && strcmp(off, "0")))
		return;
	c = EVP_CIPHER_meth_new(v->nid, 1, v->key_len);
	if (!c)
		return;
	/*
	 * ALWAYS_CALL_INIT and CUSTOM_IV: our init sees every key and IV, even
	 * when a caller sets them in separate calls, and passes them on.
	 */
	if (!EVP_CIPHER_meth_set_iv_length(c, 16) ||
	    !EVP_CIPHER_meth_set_flags(c, EVP_CIPH_CTR_MODE | EVP_CIPH_FLAG_CUSTOM_CIPHER |
					      EVP_CIPH_ALWAYS_CALL_INIT | EVP_CIPH_CUSTOM_IV |
					      EVP_CIPH_CUSTOM_COPY) ||
	    !EVP_CIPHER_meth_set_init(c, ctr_init) ||
	    !EVP_CIPHER_meth_set_do_cipher(c, ctr_do_cipher) ||
	    !EVP_CIPHER_meth_set_cleanup(c, ctr_cleanup) ||
	    !EVP_CIPHER_meth_set_ctrl(c, ctr_ctrl) ||
	    !EVP_CIPHER_meth_set_impl_ctx_size(c, sizeof(struct ctr_state))) {
		EVP_CIPHER_meth_free(c);
		return;
	}
	v->ours = c;
}

static const EVP_CIPHER *variant_get(struct variant *v)
{
	if (!v->tried)
		variant_setup(v);
	return v->ours ? v->ours : v->real;
}

const EVP_CIPHER *EVP_aes_128_ctr(void)
{
	return variant_get(&variants[0]);
}

const EVP_CIPHER *EVP_aes_192_ctr(void)
{
	return variant_get(&variants[1]);
}

const EVP_CIPHER *EVP_aes_256_ctr(void)
{
	return variant_get(&variants[2]);
}

unsigned long aesctr_contexts(void)
{
	return n_contexts;
}
