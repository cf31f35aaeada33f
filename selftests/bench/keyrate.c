// SPDX-License-Identifier: GPL-2.0
/*
 * keyrate: key requests per second over netlink, against bare generic
 * netlink round trips.
 *
 *	keyrate -m MASTER -s SLAVE -l LINK [-r ROUNDS] [-t SECONDS] [-b BITS]
 *		[-n MAX] [-w WARMUP]
 *
 * Run as the master SAE's uid in the master's node. Each round first waits
 * until the Kx channel of link LINK is quiet (the frame counters of the
 * link have not moved for a second: every reservation of the previous
 * round has been acknowledged, or the retransmission timer would have
 * fired), then runs for SECONDS a loop of CTRL_CMD_GETFAMILY requests
 * (family "qkdn") on a generic netlink socket of the nlctrl family, then
 * for SECONDS a loop of QKDN_CMD_KEY_GET requests (one key of BITS bits,
 * bytes included) on a socket of the qkdn family. Both sockets come from
 * libqkdn and both loops are the same: build the request, qkdn_request()
 * until the ACK, a callback that parses the reply and reads what an
 * application would (the family ID; the key ID and the key bytes). With
 * -n, a KEY_GET run also ends after MAX keys. With -w, WARMUP keys are
 * requested before the first round, unmeasured (for instance to bring the
 * peer KM's table of reservations to its steady size).
 *
 * A KEY_GET answered EBUSY (4096 reservations not yet acknowledged by the
 * peer KM) is retried after 100 us, as an application would; the time is
 * part of the run. Such a run has two phases: "open" until the first
 * EBUSY (the request path alone) and "throttled" after it (as fast as the
 * peer KM acknowledges).
 *
 * Output: one comment line per round, then the medians over the rounds:
 *	genl RATE	GETFAMILY requests/s
 *	key RATE	KEY_GET requests/s over the whole run
 *	ratio R		key/genl of the same round
 *	open RATE	KEY_GET requests/s before the first EBUSY
 *	open_ratio R	open/genl of the same round
 *	busy N		EBUSY answers of all rounds (total)
 * The exit status is non-zero if a request failed (other than EBUSY) or a
 * reply did not hold what was asked for.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libqkdn.h"
#include "bench.h"

#define ROUNDS_MAX	64
#define CHECK_EVERY	16	/* requests between two clock readings */

struct opts {
	const char *master;
	const char *slave;
	uint32_t link;
	unsigned int rounds;
	double secs;
	unsigned int bits;
	unsigned long max;	/* KEY_GET requests per run, 0: no limit */
	unsigned long warmup;	/* KEY_GET requests before the rounds */
};

struct reply {
	struct bench_keys k;	/* KEY_GET: the key */
	uint16_t family;	/* GETFAMILY: CTRL_ATTR_FAMILY_ID */
};

static int family_cb(const struct nlmsghdr *nlh, void *data)
{
	struct reply *r = data;
	struct nlattr *a;

	mnl_attr_for_each(a, nlh, GENL_HDRLEN) {
		if (mnl_attr_get_type(a) == CTRL_ATTR_FAMILY_ID &&
		    !mnl_attr_validate(a, MNL_TYPE_U16))
			r->family = mnl_attr_get_u16(a);
	}
	return MNL_CB_OK;
}

static int key_cb(const struct nlmsghdr *nlh, void *data)
{
	return bench_keys_cb(nlh, &((struct reply *)data)->k);
}

static struct nlmsghdr *family_req(struct qkdn_sock *qs, void *buf,
				   const struct opts *o)
{
	struct nlmsghdr *nlh = qkdn_msg(qs, buf, CTRL_CMD_GETFAMILY, 0);

	(void)o;
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, QKDN_GENL_NAME);
	return nlh;
}

static struct nlmsghdr *key_req(struct qkdn_sock *qs, void *buf,
				const struct opts *o)
{
	struct nlmsghdr *nlh = qkdn_msg(qs, buf, QKDN_CMD_KEY_GET, 0);

	mnl_attr_put_strz(nlh, QKDN_A_MASTER_SAE_ID, o->master);
	mnl_attr_put_strz(nlh, QKDN_A_SLAVE_SAE_ID, o->slave);
	mnl_attr_put_u32(nlh, QKDN_A_KEY_NUMBER, 1);
	mnl_attr_put_u32(nlh, QKDN_A_KEY_SIZE, o->bits);
	return nlh;
}

typedef struct nlmsghdr *(*build_fn)(struct qkdn_sock *qs, void *buf,
				     const struct opts *o);

struct result {
	double rate;		/* requests/s over the run */
	double open;		/* requests/s before the first EBUSY */
	unsigned long busy;	/* EBUSY answers */
};

/* The Kx frame counters of the link. */
static int stats_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[QKDN_A_MAX + 1] = { 0 };
	const struct nlattr *st[QKDN_A_STATS_MAX + 1] = { 0 };
	uint64_t *frames = data;

	if (qkdn_parse(nlh, tb) || !tb[QKDN_A_STATS] ||
	    qkdn_parse_stats(tb[QKDN_A_STATS], st))
		return MNL_CB_OK;
	if (st[QKDN_A_STATS_FRAMES_TX])
		frames[0] = mnl_attr_get_u64(st[QKDN_A_STATS_FRAMES_TX]);
	if (st[QKDN_A_STATS_FRAMES_RX])
		frames[1] = mnl_attr_get_u64(st[QKDN_A_STATS_FRAMES_RX]);
	return MNL_CB_OK;
}

/*
 * Wait until the link's frame counters have not moved for a second (or
 * give up after 60 s); returns the seconds waited, or -1 on error.
 */
static double settle(struct qkdn_sock *qs, void *buf, const struct opts *o)
{
	uint64_t last[2] = { 0, 0 }, cur[2];
	double t0 = bench_now(), since = t0, t;

	for (;;) {
		struct nlmsghdr *nlh = qkdn_msg(qs, buf, QKDN_CMD_LINK_GET, 0);
		int err;

		mnl_attr_put_u32(nlh, QKDN_A_LINK_ID, o->link);
		cur[0] = cur[1] = 0;
		err = qkdn_request(qs, nlh, stats_cb, cur);
		if (err) {
			fprintf(stderr, "keyrate: link %u: %s\n", o->link,
				strerror(-err));
			return -1;
		}
		t = bench_now();
		if (cur[0] != last[0] || cur[1] != last[1]) {
			last[0] = cur[0];
			last[1] = cur[1];
			since = t;
		} else if (t - since >= 1.0 || t - t0 >= 60) {
			return t - t0;
		}
		usleep(100000);
	}
}

/*
 * Requests for o->secs seconds; fills *res, returns 0 or -1. EBUSY (the
 * peer KM has not acknowledged enough reservations yet) is waited out and
 * retried.
 */
static int run(struct qkdn_sock *qs, void *buf, build_fn build,
	       mnl_cb_t cb, const struct opts *o, struct result *res)
{
	struct reply *r = calloc(1, sizeof(*r));
	unsigned long n = 0;
	double t0, t;
	int i, err;

	if (!r)
		return -1;
	memset(res, 0, sizeof(*res));
	r->k.bytes = o->bits / 8;
	r->k.want = 1;
	t0 = bench_now();
	do {
		for (i = 0; i < CHECK_EVERY; i++) {
			struct nlmsghdr *nlh;

			if (cb == key_cb && o->max && n >= o->max)
				break;
			nlh = build(qs, buf, o);

			r->k.keys = 0;
			r->family = 0;
			err = qkdn_request(qs, nlh, cb, r);
			if (err == -EBUSY) {
				if (!res->busy++)
					res->open = n / (bench_now() - t0);
				usleep(100);
				continue;
			}
			if (err) {
				fprintf(stderr, "keyrate: request failed: %s%s%s\n",
					strerror(-err), *qkdn_errmsg(qs) ? ": " : "",
					qkdn_errmsg(qs));
				goto fail;
			}
			if (cb == key_cb ? r->k.keys != 1 : !r->family) {
				fprintf(stderr, "keyrate: reply without %s\n",
					cb == key_cb ? "the key" : "the family ID");
				goto fail;
			}
			n++;
		}
		t = bench_now() - t0;
	} while (t < o->secs && !(cb == key_cb && o->max && n >= o->max));
	free(r);
	res->rate = n / t;
	if (!res->busy)
		res->open = res->rate;
	return 0;
fail:
	free(r);
	return -1;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: keyrate -m MASTER -s SLAVE -l LINK [-r ROUNDS] [-t SECONDS] [-b BITS]\n"
		"               [-n MAX] [-w WARMUP]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct opts o = { .rounds = 5, .secs = 1.0, .bits = 256 };
	double genl[ROUNDS_MAX], key[ROUNDS_MAX], ratio[ROUNDS_MAX];
	double open[ROUNDS_MAX], open_ratio[ROUNDS_MAX];
	struct qkdn_sock *ctrl, *qkdn;
	struct result g, k;
	unsigned long busy = 0;
	double waited;
	unsigned int i;
	void *buf;
	int c;

	while ((c = getopt(argc, argv, "m:s:l:r:t:b:n:w:")) != -1) {
		switch (c) {
		case 'm':
			o.master = optarg;
			break;
		case 's':
			o.slave = optarg;
			break;
		case 'l':
			o.link = strtoul(optarg, NULL, 10);
			break;
		case 'r':
			o.rounds = strtoul(optarg, NULL, 10);
			break;
		case 't':
			o.secs = strtod(optarg, NULL);
			break;
		case 'b':
			o.bits = strtoul(optarg, NULL, 10);
			break;
		case 'n':
			o.max = strtoul(optarg, NULL, 10);
			break;
		case 'w':
			o.warmup = strtoul(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	if (!o.master || !o.slave || !o.link || !o.rounds || o.rounds > ROUNDS_MAX ||
	    !(o.secs > 0) || !o.bits || o.bits % 8 || o.bits > 8192)
		usage();

	ctrl = qkdn_open_genl("nlctrl");
	qkdn = qkdn_open();
	buf = calloc(1, QKDN_BUF_SIZE);
	if (!ctrl || !qkdn || !buf) {
		perror("keyrate: netlink");
		return 1;
	}

	if (o.warmup) {
		struct opts w = o;

		w.max = o.warmup;
		w.secs = 600;
		if (run(qkdn, buf, key_req, key_cb, &w, &k))
			return 1;
		printf("# warm-up: %lu keys at %.0f/s, EBUSY %lu\n", o.warmup,
		       k.rate, k.busy);
	}
	for (i = 0; i < o.rounds; i++) {
		waited = settle(qkdn, buf, &o);
		if (waited < 0 ||
		    run(ctrl, buf, family_req, family_cb, &o, &g) ||
		    run(qkdn, buf, key_req, key_cb, &o, &k) || g.rate <= 0)
			return 1;
		genl[i] = g.rate;
		key[i] = k.rate;
		open[i] = k.open;
		ratio[i] = key[i] / genl[i];
		open_ratio[i] = open[i] / genl[i];
		busy += k.busy;
		printf("# round %u: settled in %.1f s; genl %.0f/s key %.0f/s (ratio %.3f), before the first EBUSY %.0f/s (ratio %.3f), EBUSY %lu\n",
		       i + 1, waited, genl[i], key[i], ratio[i], open[i],
		       open_ratio[i], k.busy);
		fflush(stdout);
	}
	printf("genl %.0f\nkey %.0f\nratio %.3f\nopen %.0f\nopen_ratio %.3f\nbusy %lu\n",
	       bench_median(genl, o.rounds), bench_median(key, o.rounds),
	       bench_median(ratio, o.rounds), bench_median(open, o.rounds),
	       bench_median(open_ratio, o.rounds), busy);

	qkdn_close(ctrl);
	qkdn_close(qkdn);
	free(buf);
	return 0;
}
