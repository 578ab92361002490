/*
 * ratelimit: a fixed-window line budget, and a backing-off one for what
 * goes on happening (see ratelimit.h).
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

void ratelimit_backoff_note(struct ratelimit_backoff *b, int64_t now_ms)
{
	/*
	 * Quiet for a while (since the last of it, and since the last line,
	 * which may have told it late): the next is news again, told at once.
	 */
	if (b->seen &&
	    now_ms - (b->seen_ms > b->said_ms ? b->seen_ms : b->said_ms) > (int64_t)b->max_ms)
		b->gap_ms = 0;
	b->seen = true;
	b->seen_ms = now_ms;
}

bool ratelimit_backoff_allow(struct ratelimit_backoff *b, int64_t now_ms, bool force)
{
	if (!force && b->gap_ms && now_ms - b->said_ms < b->gap_ms)
		return false;
	if (!b->gap_ms)
		b->gap_ms = b->min_ms;
	else if (b->gap_ms * 2 > (int64_t)b->max_ms)
		b->gap_ms = b->max_ms;
	else
		b->gap_ms *= 2;
	b->said_ms = now_ms;
	return true;
}
