/*
 * ratelimit: a fixed-window line budget (see ratelimit.h).
 */
#include "ratelimit.h"

bool ratelimit_allow(struct ratelimit *rl, int64_t now_ms, unsigned *dropped)
{
	if (rl->start_ms == 0 || now_ms - rl->start_ms >= (int64_t)rl->interval_ms) {
		rl->start_ms = now_ms ? now_ms : 1;
		rl->used = 0;
	}
	if (rl->used >= rl->burst) {
		rl->suppressed++;
		return false;
	}
	rl->used++;
	*dropped = rl->suppressed;
	rl->suppressed = 0;
	return true;
}
