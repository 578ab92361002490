/*
 * priv_client: the user's side of the privileged part. The only way the
 * client reaches the firewall and /etc/hosts. It starts the part (through
 * sudo or doas, or as a plain child when this process may already change
 * the firewall), then makes one blocking request at a time; every call
 * waits a bounded time for its reply.
 */
#ifndef SLUICE_PRIV_CLIENT_H
#define SLUICE_PRIV_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../common/evloop.h"
#include "../../firewall/fw.h"
#include "../services/hosts.h"

struct privc;

/* Whether this process may change the firewall itself (root, or CAP_NET_ADMIN). */
int privc_privileged(void);

/*
 * Start the privileged part and wait for it to say it is ready. Without
 * the privilege, through `sudo` (or `doas`) with the fixed entry point
 * (the --all-users one with all_users): with a terminal sudo may ask for
 * a password there; without one, `-n`.
 * Returns 0, or -errno with one line for the user in err.
 */
int privc_start(struct privc **out, bool all_users, char *err, size_t errlen);

/*
 * What its HELLO said: the caller's uid as the kernel knows it, and true
 * when the part captures only that uid's own sockets.
 */
bool privc_confined(const struct privc *p, uint32_t *uid);

/* Relay its stderr (its log) into ours from loop. Returns 0 or -errno. */
int privc_watch(struct privc *p, struct evloop *loop);

/*
 * The part is gone (it exited, or a reply came late or wrong): the rules
 * and host lines it held are gone with it, and no request can succeed.
 */
bool privc_gone(const struct privc *p);

/* The name of its nftables table (this instance's own), for the log. */
void privc_table(const struct privc *p, char *out, size_t len);

/* How it was started ("sudo", "doas", "a child process"), for the log. */
const char *privc_how(const struct privc *p);

/*
 * Requests. Each returns 0 or the negative errno the privileged part gave
 * (the firewall's codes, see fw.h), or -EPIPE when the part is gone and
 * -ETIME when it did not answer.
 */
/* label: the remote, as other tunnels' refusals will name this one (printable, no blanks). */
int privc_install(struct privc *p, const struct fw_spec *spec, const char *label);
/* Before install: would it clash with another tunnel's? 0, -EADDRINUSE (privc_why says), ... */
int privc_check(struct privc *p, const struct fw_spec *spec, const char *label);
int privc_update(struct privc *p, const struct fw_spec *spec);
/* Replace our /etc/hosts lines with e; sets the shadowed flags the file reports. */
int privc_hosts(struct privc *p, struct hosts_entry *e, size_t n);
int privc_remove(struct privc *p);
/* Delete stale conntrack entries of our redirects: how many, or -errno. */
int privc_ct_flush(struct privc *p);
/*
 * After install: capture UDP and ping to the routed networks into a TUN
 * device of this tunnel's own. *fd gets its descriptor (close-on-exec),
 * checked to be that device's; name (len bytes) its name. -EPROTO when
 * the reply carried no descriptor, more than one, or not the device named.
 */
int privc_tun(struct privc *p, int *fd, char *name, size_t len);

/* Close the channel (which makes the part remove everything) and wait a bounded time for it. */
void privc_close(struct privc *p);

/*
 * The reason the part gave for the last request's refusal (another
 * tunnel's clash, a grant it exceeds), or NULL: say it rather than
 * privc_strerror when there is one.
 */
const char *privc_why(const struct privc *p);

/* A one-line explanation of an error returned above. */
const char *privc_strerror(int err);

/*
 * The sudoers line that allows exactly the entry point (the --all-users one
 * with all_users), with comments that say what it grants. who is a user, or
 * "%group" for a line that every member of group may use; either must
 * exist. The program must be root's alone (see path_owned_by_root).
 */
int privc_sudoers(const char *who, bool all_users, char *out, size_t outlen, char *err,
		  size_t errlen);

/* The text privc_sudoers prints, for who (checked) and the program at self. */
int privc_sudoers_line(const char *who, const char *self, bool all_users, char *out, size_t outlen);

#endif
