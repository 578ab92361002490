/*
 * sluice-helper: the remote end. Started by the client's bootstrap over an
 * SSH exec channel, it speaks the wire protocol on stdin/stdout, opens the
 * real connections, and logs to stderr (which the client shows with -v).
 * It runs as the ordinary remote user and trusts nothing the client sends.
 *
 *   sluice-helper --check HASH    exit 0 when this binary's SHA-256 is HASH
 *   sluice-helper --serve HASH [-v...]
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/clock.h"
#include "../common/evloop.h"
#include "../common/fdio.h"
#include "../common/fdlimit.h"
#include "../common/log.h"
#include "../common/mux.h"
#include "../common/sha256.h"
#include "../common/wire.h"
#include "dial.h"
#include "services.h"

/*
 * The client's uploads start with HELPER_WINDOW of credit per stream and
 * grow by the same rule as the client's downloads (see mux_set_credit,
 * round trips from our own PINGs), up to HELPER_CREDIT_MAX a stream and
 * HELPER_CREDIT_TOTAL more than the base for all: a bulk upload fills a
 * long or fast pipe without queueing far ahead of anything else.
 *
 * The base is twice sshd's window for our session channel (OpenSSH fixes it
 * at 2 MiB), so that on a long path that window, not our credit, is what
 * holds an upload back. At the channel's window, our credit would bind
 * first: we return it in quarters, and some of it waits in sshd and our
 * stdin pipe. It cut back and grew again every few round trips, and the
 * stream was held back meanwhile. More credit cannot queue more ahead of
 * other streams below the client's mux either: the channel's window caps
 * what is in flight, and the rest waits in the client's own queue, which
 * it schedules.
 */
#define HELPER_WINDOW	    (4u << 20)
#define HELPER_SILENT_SEC   300
#define HELPER_CREDIT_MAX   (32u << 20)
#define HELPER_CREDIT_TOTAL (64u << 20)
#define BUDGET_MS	    10
#define HELPER_OUT_HIGH	    (256u << 10)
/*
 * sshd writes what the client uploads into our stdin pipe and reads our
 * stdout pipe a channel packet at a time. A pipe of the default 64 KiB makes
 * both sides wake for every few packets. Our stdin we drain at once, so a
 * deep pipe there only absorbs bursts. On stdout, bytes in the pipe queue
 * ahead of every stream's next frame: only a transport that queues deeply
 * itself (WIRE_F_DEEP_OUT) gets the deep pipe there.
 */
#define HELPER_PIPE_DEEP (1u << 20)
#define PUMP_ROUNDS	 64

struct helper {
	struct evloop loop;
	struct mux *mux;
	struct ev_io in, out;
	bool in_ready, out_blocked, out_watched, done;
	bool more; /* the last pump stopped at PUMP_ROUNDS with work left */
	bool told_growth;
	bool deep_out; /* the client's transport queues deeply itself */
	int exit_code;
	int64_t last_in;   /* when the client last sent anything (clock_ms) */
	uint32_t features; /* what the client asked for */
	struct services *svc;
};

static int helper_connect(void *ctx, const struct wire_open *dst)
{
	struct helper *h = ctx;
	struct sockaddr_storage r;
	int ret;

	if (!(dst->flags & WIRE_OPEN_F_DNS))
		return dial_start(dst);
	/* DNS over TCP goes to our resolver, whatever address the client's app asked. */
	ret = h->svc ? services_resolver(h->svc, &r) : -ENOENT;
	return ret < 0 ? ret : dial_addr(&r);
}

static int helper_ctl(void *ctx, const struct wire_frame *f)
{
	struct helper *h = ctx;

	return h->svc ? services_ctl(h->svc, f) : -EPROTO;
}

static void helper_closed(void *ctx, uint32_t id, const struct wire_open *dst,
			  const struct mux_stream_end *end)
{
	if (end->reason && end->local)
		log_debug("stream %u: %s", id, strerror(end->reason));
}

static void helper_pong(void *ctx, const uint8_t opaque[8])
{
	struct helper *h = ctx;
	int rtt = mux_pong_rtt(h->mux, opaque);

	if (rtt >= 0)
		log_debug("round trip to the client %d ms", rtt);
}

static const struct mux_ops helper_ops = {
    .connect = helper_connect,
    .stream_closed = helper_closed,
    .pong = helper_pong,
    .ctl = helper_ctl,
};

static void on_in(struct ev_io *io, uint32_t events)
{
	struct helper *h = (struct helper *)((char *)io - offsetof(struct helper, in));
	h->in_ready = true;
}

static void on_out(struct ev_io *io, uint32_t events)
{
	struct helper *h = (struct helper *)((char *)io - offsetof(struct helper, out));
	/* The reader of stdout is gone: nothing we could send will arrive. */
	if (events & (EPOLLERR | EPOLLHUP))
		h->done = true;
	h->out_blocked = false;
}

/* Move bytes between stdin/stdout and the mux until nothing moves. */
static void helper_pump(struct helper *h)
{
	int round, ret;

	h->more = false;
	for (round = 0; round < PUMP_ROUNDS && !h->done; round++) {
		bool progress = false;
		size_t len;
		ssize_t n;

		if (h->in_ready) {
			uint8_t *p = mux_in_space(h->mux, &len);
			n = read(0, p, len);
			if (n > 0) {
				progress = true;
				h->last_in = clock_ms();
				ret = mux_in_commit(h->mux, (size_t)n);
				if (ret < 0) {
					log_err("protocol error from client: %s", strerror(-ret));
					h->done = true;
					h->exit_code = 1;
				}
			} else if (n == 0) {
				/* The client went away: the session is over. */
				h->done = true;
			} else if (errno == EAGAIN) {
				h->in_ready = false;
			} else if (errno != EINTR) {
				log_err("reading from client: %s", strerror(errno));
				h->done = true;
				h->exit_code = 1;
			}
		}
		mux_fill(h->mux);
		if (!h->out_blocked) {
			const uint8_t *p = mux_out_peek(h->mux, &len);
			if (len) {
				n = write(1, p, len);
				if (n > 0) {
					mux_out_consume(h->mux, (size_t)n);
					progress = true;
				} else if (n < 0 && errno == EAGAIN) {
					h->out_blocked = true;
				} else if (n < 0 && errno != EINTR) {
					h->done = true;
				}
			}
		}
		if (!progress)
			break;
	}
	/* Stopped with work left: stream sockets are edge-triggered, so no event would resume it.
	 */
	if (round == PUMP_ROUNDS)
		h->more = true;
	if (h->out_blocked != h->out_watched) {
		/* Watch stdout only while it is full, so an idle helper sleeps. */
		evloop_mod(&h->loop, &h->out, h->out_blocked ? EPOLLOUT : 0);
		h->out_watched = h->out_blocked;
	}
}

static int read_exact(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The hello exchange happens in blocking mode: nothing else can happen before it. */
static int helper_hello(struct helper *h, const uint8_t self_hash[SHA256_LEN])
{
	uint8_t buf[WIRE_HDR_LEN + 128], frame[WIRE_CTL_MAX];
	struct wire_hello hello = {.version = WIRE_VERSION,
				   .window = HELPER_WINDOW,
				   .features = SERVICES_OFFERED | WIRE_F_DEEP_OUT};
	struct wire_frame f;
	uint32_t plen;
	int ret;

	memcpy(hello.hash, self_hash, SHA256_LEN);
	ret = fd_write_all(1, frame, wire_put_hello(frame, sizeof(frame), &hello));
	if (ret < 0)
		return ret;
	ret = read_exact(0, buf, WIRE_HDR_LEN);
	if (ret < 0)
		return ret;
	plen = (uint32_t)buf[8] << 24 | (uint32_t)buf[9] << 16 | (uint32_t)buf[10] << 8 | buf[11];
	if (buf[0] != WIRE_HELLO || plen > sizeof(buf) - WIRE_HDR_LEN)
		return -EPROTO;
	ret = read_exact(0, buf + WIRE_HDR_LEN, plen);
	if (ret < 0)
		return ret;
	if (wire_parse(buf, WIRE_HDR_LEN + plen, &f) <= 0 || f.type != WIRE_HELLO)
		return -EPROTO;
	if (f.u.hello.version != WIRE_VERSION)
		return -EPROTONOSUPPORT;
	if (f.u.hello.window == 0)
		return -EPROTO;
	mux_set_peer_window(h->mux, f.u.hello.window);
	h->features = f.u.hello.features & SERVICES_OFFERED;
	h->deep_out = f.u.hello.features & WIRE_F_DEEP_OUT;
	return 0;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/*
 * A larger pipe is a saving, never a need: stdio that is not a pipe, or a
 * user over the kernel's pipe-user-pages limits, keeps what it has.
 */
static void deepen_pipe(int fd, const char *name)
{
	int r = fcntl(fd, F_SETPIPE_SZ, (int)HELPER_PIPE_DEEP);

	if (r < 0)
		log_debug("%s keeps its size: %s", name, strerror(errno));
	else
		log_debug("%s holds %d KiB", name, r >> 10);
}

static int self_check(const char *want_hex, uint8_t hash[SHA256_LEN])
{
	char hex[SHA256_HEX];
	int ret = sha256_file("/proc/self/exe", hash);

	if (ret < 0)
		return ret;
	sha256_hex(hash, hex);
	return strcmp(hex, want_hex) == 0 ? 0 : -EBADMSG;
}

/* Once, at -v: an upload was given more credit (test_tunnel shows it). */
static void helper_note_growth(struct helper *h)
{
	struct mux_stats st;

	/* One branch when not at -v, or once told: this runs on every turn of the loop. */
	if (h->told_growth || log_verbosity < LOG_DEBUG)
		return;
	mux_get_stats(h->mux, &st);
	if (st.credit_grown) {
		h->told_growth = true;
		log_debug("a stream from the client was given more credit");
	}
}

static int helper_serve(struct helper *h, const uint8_t hash[SHA256_LEN])
{
	time_t last, pinged;
	int ret;

	h->in.fd = 0;
	h->in.cb = on_in;
	h->out.fd = 1;
	h->out.cb = on_out;
	ret = evloop_init(&h->loop);
	if (ret < 0)
		return ret;
	h->mux = mux_new(&h->loop, HELPER_WINDOW, HELPER_OUT_HIGH, &helper_ops, h);
	if (!h->mux)
		return -ENOMEM;
	mux_set_credit(h->mux, HELPER_CREDIT_MAX, HELPER_CREDIT_TOTAL, BUDGET_MS);
	ret = helper_hello(h, hash);
	if (ret < 0) {
		log_err("hello from client failed: %s", strerror(-ret));
		return ret;
	}
	deepen_pipe(0, "stdin");
	if (h->deep_out)
		deepen_pipe(1, "stdout");
	if ((ret = set_nonblock(0)) < 0 || (ret = set_nonblock(1)) < 0 ||
	    (ret = evloop_add(&h->loop, &h->in, EPOLLIN)) < 0 ||
	    (ret = evloop_add(&h->loop, &h->out, 0)) < 0) {
		log_err("setting up stdin/stdout: %s", strerror(-ret));
		return ret;
	}
	ret = services_start(&h->svc, &h->loop, h->mux, h->features);
	if (ret < 0) {
		log_err("starting services: %s", strerror(-ret));
		return ret;
	}
	log_debug("serving (pid %d, features 0x%x)", (int)getpid(), h->features);
	h->in_ready = true;
	last = time(NULL);
	h->last_in = clock_ms();
	/* At once: the round trip sizes a lone upload's credit. */
	mux_ping_now(h->mux);
	pinged = last;
	while (!h->done) {
		helper_pump(h);
		if (h->done)
			break;
		if (h->svc && services_pump(h->svc))
			h->more = true;
		/* Services need a tick; a plain relay wakes only to ping now and then. */
		ret = evloop_run_once(&h->loop, h->more	      ? 0
						: h->features ? 1000
							      : MUX_PING_SEC * 1000);
		if (ret < 0) {
			log_err("epoll: %s", strerror(-ret));
			return ret;
		}
		if (time(NULL) != last) {
			last = time(NULL);
			if (h->features)
				services_tick(h->svc);
			if (last - pinged >= MUX_PING_SEC) {
				pinged = last;
				mux_ping_now(h->mux);
			}
			/*
			 * A client pings at least every few tens of seconds. One that
			 * fell silent is gone (its network dropped and it has
			 * reconnected through another helper): free what this one holds.
			 */
			if (clock_ms() - h->last_in > HELPER_SILENT_SEC * 1000) {
				log_warn("nothing from the client for %d s: exiting",
					 HELPER_SILENT_SEC);
				break;
			}
		}
		/* At once: an idle helper may not pass a second boundary for a while. */
		helper_note_growth(h);
	}
	return h->exit_code ? -EPROTO : 0;
}

int main(int argc, char **argv)
{
	static struct helper h;
	uint8_t hash[SHA256_LEN];
	int i, verbose = LOG_INFO, ret;

	for (i = 3; i < argc; i++)
		if (strncmp(argv[i], "-v", 2) == 0)
			verbose += (int)strspn(argv[i] + 1, "v");
	log_init("sluice-helper", verbose);
	if (argc < 3 || strlen(argv[2]) != 2 * SHA256_LEN) {
		fprintf(stderr, "usage: sluice-helper --check|--serve SHA256 [-v]\n");
		return 2;
	}
	ret = self_check(argv[2], hash);
	if (strcmp(argv[1], "--check") == 0)
		return ret == 0 ? 0 : 3;
	if (strcmp(argv[1], "--serve") != 0) {
		fprintf(stderr, "usage: sluice-helper --check|--serve SHA256 [-v]\n");
		return 2;
	}
	if (ret < 0) {
		log_err("this helper binary does not match its name (%s); remove it and retry",
			strerror(-ret));
		return 3;
	}
	signal(SIGPIPE, SIG_IGN);
	fdlimit_raise();
	ret = helper_serve(&h, hash);
	services_free(h.svc);
	mux_free(h.mux);
	return ret < 0 ? 1 : 0;
}
