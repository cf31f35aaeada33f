// SPDX-License-Identifier: GPL-2.0
/*
 * relaybench: relayed key requests (Q.4160 I.5a) against local ones (I.1),
 * for scripts/bench-vm.sh on a QKDN built by scripts/qkdn-topo.
 *
 *	relaybench lat -m MASTER -L LOCAL -s SLAVE [-s SLAVE]... [-r ROUNDS]
 *		[-w WARMUP] [-p PAUSE_MS] [-b BITS] [-o DIR]
 *	relaybench get -m MASTER -s SLAVE [-k KEYS] [-b BITS] [-t SECONDS]
 *		[-n REQUESTS] [-g GOFILE] [-c FILE]
 *	relaybench fetch -m MASTER -s SLAVE [-c FILE]
 *
 * lat, run as the master SAE's uid in the master's node: the latency of
 * one QKDN_CMD_KEY_GET (one key of BITS bits, 256 by default) for the
 * slave SAE LOCAL, which the node reaches over a QKD link of its own
 * (I.1: the reply leaves at once), and for each relayed SLAVE (I.5a: the
 * reply leaves after the destination KM's completion notification; every
 * KM on the path asks its controller for the next hop). A round is one
 * request of each kind, LOCAL first, then the SLAVEs in the order given,
 * each followed by a pause of PAUSE_MS (20) so that every request starts
 * on a quiet system (acknowledgments sent, controllers done with the
 * events of the previous one). WARMUP rounds (3) are not measured.
 * Output: a comment line per kind, then "lat SLAVE MEDIAN_US" per kind.
 * With -o, the IDs of the keys relayed to SLAVE are written to
 * DIR/ids-SLAVE, one a line, for the destination to fetch.
 *
 * get, run as the master SAE's uid in the master's node: relayed (or
 * local) KEY_GET requests of KEYS keys (1 to 128, default 1) for SECONDS
 * (default 1) or REQUESTS requests, whichever comes first; with -g, waits
 * until GOFILE exists before the first. Every key ID goes to stdout, one a
 * line, as soon as its request is answered, in writes of whole lines of at
 * most PIPE_BUF bytes, so that several of these may share a pipe to one
 * "fetch". A request answered EBUSY (too many relays in progress) or
 * ENOSPC (the destination's waiting keys, or a pool) is retried after
 * 1 ms; those answers are counted. The result goes to FILE (or stderr),
 * with the CPU seconds the process used from the first request on, and
 * what the first retried answer said:
 *	requests N keys K secs T busy B cpu C
 *	busy_first ERROR: MESSAGE		(when B > 0)
 *
 * fetch, run as the slave SAE's uid in the slave's node: reads key IDs
 * from stdin until EOF and takes the keys with QKDN_CMD_KEY_GET_BY_ID,
 * as many IDs (at most 128) per request as have arrived. Key bytes are
 * copied out and erased, never printed. The result goes to FILE (or
 * stderr), with the CPU seconds the process used from the first key ID on:
 *	fetched K requests N failed F cpu C
 *
 * The exit status is non-zero if a request failed (other than the retried
 * answers) or a reply did not hold what was asked for.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "libqkdn.h"
#include "bench.h"

#define SLAVES_MAX	8
#define ROUNDS_MAX	10000

struct opts {
	const char *master;
	const char *local;
	const char *slaves[SLAVES_MAX];
	unsigned int nslaves;
	unsigned int rounds;
	unsigned int warmup;
	unsigned int pause_ms;
	unsigned int bits;
	unsigned int keys;
	double secs;
	unsigned long max;
	const char *go;
	const char *out;	/* -o DIR (lat), -c FILE (get, fetch) */
};

/* What a reply held. */

/* One KEY_GET of keys keys of bits bits for slave; 0 or -errno. */
static int key_get(struct qkdn_sock *qs, void *buf, const char *master,
		   const char *slave, unsigned int keys, unsigned int bits,
		   struct bench_keys *r)
{
	struct nlmsghdr *nlh = qkdn_msg(qs, buf, QKDN_CMD_KEY_GET, 0);
	int err;

	mnl_attr_put_strz(nlh, QKDN_A_MASTER_SAE_ID, master);
	mnl_attr_put_strz(nlh, QKDN_A_SLAVE_SAE_ID, slave);
	mnl_attr_put_u32(nlh, QKDN_A_KEY_NUMBER, keys);
	mnl_attr_put_u32(nlh, QKDN_A_KEY_SIZE, bits);
	r->want = keys;
	r->bytes = bits / 8;
	r->keys = 0;
	err = qkdn_request(qs, nlh, bench_keys_cb, r);
	if (!err && r->keys != keys) {
		fprintf(stderr, "relaybench: %u of %u keys in the reply\n",
			r->keys, keys);
		return -EPROTO;
	}
	return err;
}

static void req_failed(struct qkdn_sock *qs, const char *what, int err)
{
	fprintf(stderr, "relaybench: %s failed: %s%s%s\n", what, strerror(-err),
		*qkdn_errmsg(qs) ? ": " : "", qkdn_errmsg(qs));
}

/* CPU seconds this process used, user and system. */
static double cpu_secs(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* The q-quantile (0..1) of sorted v[n], nearest rank. */
static double quantile(const double *v, unsigned int n, double q)
{
	unsigned int i = (unsigned int)(q * (n - 1) + 0.5);

	return v[i < n ? i : n - 1];
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int lat(const struct opts *o)
{
	unsigned int kinds = o->nslaves + 1, k, i, n = 0;
	FILE *ids[SLAVES_MAX + 1] = { 0 };
	struct qkdn_sock *qs = qkdn_open();
	struct bench_keys *r = calloc(1, sizeof(*r));
	void *buf = calloc(1, QKDN_BUF_SIZE);
	double *us[SLAVES_MAX + 1], med[SLAVES_MAX + 1];
	char path[PATH_MAX];
	int err;

	if (!qs || !r || !buf) {
		perror("relaybench: netlink");
		return 1;
	}
	for (k = 0; k < kinds; k++) {
		us[k] = calloc(o->rounds, sizeof(double));
		if (!us[k])
			return 1;
		if (k && o->out) {
			snprintf(path, sizeof(path), "%s/ids-%s", o->out,
				 o->slaves[k - 1]);
			ids[k] = fopen(path, "w");
			if (!ids[k]) {
				perror(path);
				return 1;
			}
		}
	}
	for (i = 0; i < o->warmup + o->rounds; i++) {
		for (k = 0; k < kinds; k++) {
			const char *slave = k ? o->slaves[k - 1] : o->local;
			char id[QKDN_UUID_STR_LEN];
			double t0 = bench_now(), t;

			err = key_get(qs, buf, o->master, slave, 1, o->bits, r);
			t = bench_now() - t0;
			if (err) {
				req_failed(qs, slave, err);
				return 1;
			}
			if (i >= o->warmup)
				us[k][n] = t * 1e6;
			if (ids[k]) {
				qkdn_uuid_fmt(r->ids[0], id);
				fprintf(ids[k], "%s\n", id);
			}
			sleep_ms(o->pause_ms);
		}
		if (i >= o->warmup)
			n++;
	}
	for (k = 0; k < kinds; k++) {
		const char *slave = k ? o->slaves[k - 1] : o->local;

		if (ids[k] && fclose(ids[k]))
			return 1;
		med[k] = bench_median(us[k], n);	/* sorts us[k] */
		printf("# %s %s: %u requests after %u of warm-up: median %.0f us, min %.0f, p10 %.0f, p90 %.0f, max %.0f\n",
		       k ? "relayed to" : "local to", slave, n, o->warmup,
		       med[k], us[k][0], quantile(us[k], n, 0.1),
		       quantile(us[k], n, 0.9), us[k][n - 1]);
		free(us[k]);
	}
	for (k = 0; k < kinds; k++)
		printf("lat %s %.1f\n", k ? o->slaves[k - 1] : o->local,
		       med[k]);
	qkdn_close(qs);
	free(r);
	free(buf);
	return 0;
}

/* write() all of len bytes. */
static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		len -= w;
	}
	return 0;
}

static FILE *result_file(const struct opts *o)
{
	FILE *f;

	if (!o->out)
		return stderr;
	f = fopen(o->out, "w");
	if (!f)
		perror(o->out);
	return f;
}

static int get(const struct opts *o)
{
	struct qkdn_sock *qs = qkdn_open();
	struct bench_keys *r = calloc(1, sizeof(*r));
	void *buf = calloc(1, QKDN_BUF_SIZE);
	unsigned long reqs = 0, keys = 0, busy = 0;
	char out[QKDN_KEYS_PER_REQUEST * QKDN_UUID_STR_LEN];
	char why[256] = "";
	double t0, t = 0, cpu0;
	FILE *res;
	int err;

	if (!qs || !r || !buf) {
		perror("relaybench: netlink");
		return 1;
	}
	if (o->go)
		while (access(o->go, F_OK))
			sleep_ms(1);
	t0 = bench_now();
	cpu0 = cpu_secs();
	while (t < o->secs && (!o->max || reqs < o->max)) {
		size_t len = 0, start = 0;
		unsigned int i;

		err = key_get(qs, buf, o->master, o->slaves[0], o->keys,
			      o->bits, r);
		t = bench_now() - t0;
		if (err == -EBUSY || err == -ENOSPC) {
			if (!busy++)
				snprintf(why, sizeof(why), "%s%s%s",
					 strerror(-err),
					 *qkdn_errmsg(qs) ? ": " : "",
					 qkdn_errmsg(qs));
			sleep_ms(1);
			t = bench_now() - t0;
			continue;
		}
		if (err) {
			req_failed(qs, o->slaves[0], err);
			return 1;
		}
		reqs++;
		keys += r->keys;
		/* Whole lines, at most PIPE_BUF bytes a write (atomic). */
		for (i = 0; i < r->keys; i++) {
			if (len - start + QKDN_UUID_STR_LEN > PIPE_BUF) {
				if (write_all(1, out + start, len - start))
					return 1;
				start = len;
			}
			qkdn_uuid_fmt(r->ids[i], out + len);
			len += QKDN_UUID_STR_LEN - 1;
			out[len++] = '\n';
		}
		if (write_all(1, out + start, len - start)) {
			perror("relaybench: stdout");
			return 1;
		}
	}
	res = result_file(o);
	if (!res)
		return 1;
	fprintf(res, "requests %lu keys %lu secs %.3f busy %lu cpu %.3f\n", reqs,
		keys, t, busy, cpu_secs() - cpu0);
	if (busy)
		fprintf(res, "busy_first %s\n", why);
	if (res != stderr && fclose(res))
		return 1;
	qkdn_close(qs);
	free(r);
	free(buf);
	return 0;
}

/* One KEY_GET_BY_ID for the n IDs; 0 or -errno. */
static int key_get_by_id(struct qkdn_sock *qs, void *buf, const struct opts *o,
			 uint8_t (*ids)[QKDN_KEY_ID_LEN], unsigned int n,
			 struct bench_keys *r)
{
	struct nlmsghdr *nlh = qkdn_msg(qs, buf, QKDN_CMD_KEY_GET_BY_ID, 0);
	unsigned int i;
	int err;

	mnl_attr_put_strz(nlh, QKDN_A_MASTER_SAE_ID, o->master);
	mnl_attr_put_strz(nlh, QKDN_A_SLAVE_SAE_ID, o->slaves[0]);
	for (i = 0; i < n; i++) {
		struct nlattr *nest = mnl_attr_nest_start(nlh, QKDN_A_KEY);

		mnl_attr_put(nlh, QKDN_A_KEY_ID, QKDN_KEY_ID_LEN, ids[i]);
		mnl_attr_nest_end(nlh, nest);
	}
	r->want = n;
	r->bytes = 0;		/* any size */
	r->keys = 0;
	err = qkdn_request(qs, nlh, bench_keys_cb, r);
	if (err)
		return err;
	for (i = 0; i < n; i++)
		if (i >= r->keys || memcmp(r->ids[i], ids[i], QKDN_KEY_ID_LEN))
			break;
	if (i < n) {
		fprintf(stderr, "relaybench: the reply does not hold the %u keys asked for\n",
			n);
		return -EPROTO;
	}
	return 0;
}

static int fetch(const struct opts *o)
{
	static uint8_t ids[QKDN_KEYS_PER_REQUEST][QKDN_KEY_ID_LEN];
	struct qkdn_sock *qs = qkdn_open();
	struct bench_keys *r = calloc(1, sizeof(*r));
	void *buf = calloc(1, QKDN_BUF_SIZE);
	unsigned long fetched = 0, reqs = 0, failed = 0;
	double cpu0 = -1;
	char in[8192];
	size_t have = 0;
	unsigned int n = 0;
	bool eof = false;
	FILE *res;
	int err;

	if (!qs || !r || !buf) {
		perror("relaybench: netlink");
		return 1;
	}
	while (!eof || n) {
		struct pollfd p = { .fd = 0, .events = POLLIN };
		char *nl;

		/* Read while lines are waiting and there is room for IDs;
		 * block only when there is nothing to fetch.
		 */
		while (!eof && n < QKDN_KEYS_PER_REQUEST &&
		       (nl = memchr(in, '\n', have)) == NULL &&
		       poll(&p, 1, n ? 0 : -1) > 0) {
			ssize_t got = read(0, in + have, sizeof(in) - have);

			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0)
				eof = true;
			else
				have += got;
		}
		/* Whole lines into IDs. */
		while (n < QKDN_KEYS_PER_REQUEST &&
		       (nl = memchr(in, '\n', have)) != NULL) {
			*nl = '\0';
			if (nl > in && qkdn_uuid_parse(in, ids[n])) {
				fprintf(stderr, "relaybench: bad key ID \"%s\"\n",
					in);
				return 1;
			}
			if (nl > in)
				n++;
			have -= nl + 1 - in;
			memmove(in, nl + 1, have);
		}
		if (have == sizeof(in)) {
			fprintf(stderr, "relaybench: line too long\n");
			return 1;
		}
		if (!n)
			continue;
		if (cpu0 < 0)
			cpu0 = cpu_secs();
		/* Fetch what has arrived, unless more is coming and the
		 * request is not full yet.
		 */
		if (n < QKDN_KEYS_PER_REQUEST && !eof && !memchr(in, '\n', have) &&
		    poll(&p, 1, 0) > 0)
			continue;
		err = key_get_by_id(qs, buf, o, ids, n, r);
		reqs++;
		if (err) {
			req_failed(qs, "key request with ID", err);
			failed += n;
		} else {
			fetched += n;
		}
		n = 0;
	}
	res = result_file(o);
	if (!res)
		return 1;
	fprintf(res, "fetched %lu requests %lu failed %lu cpu %.3f\n", fetched,
		reqs, failed, cpu0 < 0 ? 0 : cpu_secs() - cpu0);
	if (res != stderr && fclose(res))
		return 1;
	qkdn_close(qs);
	free(r);
	free(buf);
	return failed ? 1 : 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: relaybench lat -m MASTER -L LOCAL -s SLAVE [-s SLAVE]... [-r ROUNDS]\n"
		"                      [-w WARMUP] [-p PAUSE_MS] [-b BITS] [-o DIR]\n"
		"       relaybench get -m MASTER -s SLAVE [-k KEYS] [-b BITS] [-t SECONDS]\n"
		"                      [-n REQUESTS] [-g GOFILE] [-c FILE]\n"
		"       relaybench fetch -m MASTER -s SLAVE [-c FILE]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct opts o = { .rounds = 50, .warmup = 3, .pause_ms = 20,
			  .bits = 256, .keys = 1, .secs = 1.0 };
	const char *mode;
	int c;

	if (argc < 2)
		usage();
	mode = argv[1];
	optind = 2;
	while ((c = getopt(argc, argv, "m:L:s:r:w:p:b:k:t:n:g:o:c:")) != -1) {
		switch (c) {
		case 'm':
			o.master = optarg;
			break;
		case 'L':
			o.local = optarg;
			break;
		case 's':
			if (o.nslaves == SLAVES_MAX)
				usage();
			o.slaves[o.nslaves++] = optarg;
			break;
		case 'r':
			o.rounds = strtoul(optarg, NULL, 10);
			break;
		case 'w':
			o.warmup = strtoul(optarg, NULL, 10);
			break;
		case 'p':
			o.pause_ms = strtoul(optarg, NULL, 10);
			break;
		case 'b':
			o.bits = strtoul(optarg, NULL, 10);
			break;
		case 'k':
			o.keys = strtoul(optarg, NULL, 10);
			break;
		case 't':
			o.secs = strtod(optarg, NULL);
			break;
		case 'n':
			o.max = strtoul(optarg, NULL, 10);
			break;
		case 'g':
			o.go = optarg;
			break;
		case 'o':
		case 'c':
			o.out = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || !o.master || !o.nslaves || !o.bits || o.bits % 8 ||
	    o.bits > QKDN_KEY_SIZE_MAX || !o.keys ||
	    o.keys > QKDN_KEYS_PER_REQUEST)
		usage();
	if (!strcmp(mode, "lat")) {
		if (!o.local || !o.rounds || o.rounds > ROUNDS_MAX)
			usage();
		return lat(&o);
	}
	if (!strcmp(mode, "get")) {
		if (o.nslaves != 1 || !(o.secs > 0))
			usage();
		return get(&o);
	}
	if (!strcmp(mode, "fetch")) {
		if (o.nslaves != 1)
			usage();
		return fetch(&o);
	}
	usage();
	return 2;
}
