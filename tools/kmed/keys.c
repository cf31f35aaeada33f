// SPDX-License-Identifier: GPL-2.0
/*
 * The gateway's side of the kernel: a socket per thread, bound with
 * QKDN_CMD_GW_BIND, on which key requests carry the client's credential
 * (QKDN_A_SAE_CRED). The kernel decides who gets which key; this file
 * turns its answers, and its refusals, into what ETSI GS QKD 014 answers.
 *
 * Key bytes arrive in the socket's receive buffer (libqkdn erases it once
 * read), are copied into one buffer per request (kmed_keys, erased on
 * release) and from there into the JSON (etsi.c, erased on release).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kmed.h"
#include "libqkdn.h"
#include "log.h"

int kmed_nl_open(struct kmed_nl *nl)
{
	struct nlmsghdr *m;
	int err;

	nl->qs = qkdn_open();
	if (!nl->qs)
		return -errno;
	nl->buf = malloc(QKDN_BUF_SIZE);
	if (!nl->buf) {
		kmed_nl_close(nl);
		return -ENOMEM;
	}
	m = qkdn_msg(nl->qs, nl->buf, QKDN_CMD_GW_BIND, 0);
	err = qkdn_request(nl->qs, m, NULL, NULL);
	if (err) {
		qd_err("cannot claim the gateway role: %s%s%s", strerror(-err),
		       qkdn_errmsg(nl->qs) ? ": " : "",
		       qkdn_errmsg(nl->qs) ? qkdn_errmsg(nl->qs) : "");
		kmed_nl_close(nl);
		return err;
	}
	return 0;
}

void kmed_nl_close(struct kmed_nl *nl)
{
	qkdn_close(nl->qs);
	free(nl->buf);
	nl->qs = NULL;
	nl->buf = NULL;
}

void kmed_limits(struct etsi_limits *lim)
{
	lim->max_key_per_request = QKDN_KEYS_PER_REQUEST;
	lim->max_key_size = QKDN_KEY_SIZE_MAX;
	lim->min_key_size = QKDN_KEY_SIZE_MIN;
	/* Multicast: the slave and up to QKDN_SLAVES_MAX - 1 more. */
	lim->max_sae_id_count = ETSI_SLAVES_MAX;
}

/* ---- the client's SAE ---- */

struct sae_find {
	const char *cred;
	char *out;
	bool found;
};

static int sae_find_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[QKDN_A_MAX + 1];
	struct sae_find *f = data;

	if (f->found || qkdn_parse(nlh, tb) || !tb[QKDN_A_SAE_ID] ||
	    !tb[QKDN_A_SAE_CRED] ||
	    strcmp(mnl_attr_get_str(tb[QKDN_A_SAE_CRED]), f->cred))
		return MNL_CB_OK;
	snprintf(f->out, QKDN_ID_MAX, "%s", mnl_attr_get_str(tb[QKDN_A_SAE_ID]));
	f->found = true;
	return MNL_CB_OK;
}

int kmed_client_find(struct kmed_nl *nl, struct kmed_client *c,
		     struct etsi_error *e)
{
	struct sae_find f = { .cred = c->cred, .out = c->sae };
	struct nlmsghdr *m;
	int err;

	m = qkdn_msg(nl->qs, nl->buf, QKDN_CMD_SAE_GET, NLM_F_DUMP);
	err = qkdn_request(nl->qs, m, sae_find_cb, &f);
	if (err)
		return etsi_fail(e, 503, "the key manager cannot be asked: %s",
				 strerror(-err));
	if (!f.found)
		return etsi_fail(e, 401, "no SAE is registered for this client certificate");
	return 0;
}

/* ---- keys ---- */

struct keys_parse {
	struct kmed_keys *k;
	size_t cap;		/* bytes k->data holds */
	int err;
};

static int keys_cb(const struct nlmsghdr *nlh, void *data)
{
	struct keys_parse *p = data;
	struct kmed_keys *k = p->k;
	const struct nlattr *a;

	mnl_attr_for_each(a, nlh, GENL_HDRLEN) {
		const struct nlattr *kt[QKDN_A_KEY_MAX + 1];
		struct etsi_key *key;
		size_t len;
		uint8_t *d;

		if (mnl_attr_get_type(a) != QKDN_A_KEY)
			continue;
		if (qkdn_parse_key(a, kt) || !kt[QKDN_A_KEY_ID] ||
		    !kt[QKDN_A_KEY_DATA] || k->n == QKDN_KEYS_PER_REQUEST) {
			p->err = -EPROTO;
			return MNL_CB_OK;
		}
		len = mnl_attr_get_payload_len(kt[QKDN_A_KEY_DATA]);
		/* One buffer for all, never moved: no copy left unerased. */
		if (len > p->cap - k->data_len) {
			p->err = -EPROTO;
			return MNL_CB_OK;
		}
		d = k->data;
		memcpy(d + k->data_len, mnl_attr_get_payload(kt[QKDN_A_KEY_DATA]),
		       len);
		key = &k->keys[k->n++];
		memcpy(key->id, mnl_attr_get_payload(kt[QKDN_A_KEY_ID]),
		       QKDN_KEY_ID_LEN);
		key->data = d + k->data_len;
		key->len = len;
		k->data_len += len;
	}
	return MNL_CB_OK;
}

void kmed_keys_release(struct kmed_keys *k)
{
	if (k->data)
		qkdn_memzero(k->data, k->data_len);	/* all that was written */
	free(k->data);
	memset(k, 0, sizeof(*k));
}

static int kernel_fail(struct kmed_nl *nl, int err, struct etsi_error *e)
{
	return kmed_kernel_error(err, qkdn_errmsg(nl->qs), 0, NULL, e);
}

/* Where the SAE ID attribute put next in m will sit, from m's start. */
static void sae_put(struct nlmsghdr *m, struct kmed_saes *s, uint16_t type,
		    const char *id)
{
	kmed_saes_put(s, (uint32_t)((char *)mnl_nlmsg_get_payload_tail(m) -
				    (char *)m), id);
	mnl_attr_put_strz(m, type, id);
}

/*
 * A key request whose reply holds want keys, cap bytes of them at most;
 * s: the SAE IDs in m of an enc_keys request, or NULL.
 */
static int keys_request(struct kmed_nl *nl, struct nlmsghdr *m,
			unsigned int want, size_t cap,
			const struct kmed_saes *s, struct kmed_keys *k,
			struct etsi_error *e)
{
	struct keys_parse p = { .k = k, .cap = cap };
	int err;

	memset(k, 0, sizeof(*k));
	k->data = malloc(cap);
	if (!k->data)
		return etsi_fail(e, 503, "out of memory");
	err = qkdn_request(nl->qs, m, keys_cb, &p);
	if (!err && !p.err && k->n != want)
		p.err = -EPROTO;
	if (!err && p.err) {
		/* Taken from the kernel, but not whole: say so, keep nothing. */
		qd_err("key reply: %s", strerror(-p.err));
		kmed_keys_release(k);
		return etsi_fail(e, 503, "the key manager's answer was not understood");
	}
	if (err == -EWOULDBLOCK) {
		kmed_keys_release(k);
		return err;
	}
	if (err) {
		kmed_keys_release(k);
		return kmed_kernel_error(err, qkdn_errmsg(nl->qs),
					 qkdn_erroff(nl->qs), s, e);
	}
	return 0;
}

int kmed_enc_keys(struct kmed_nl *nl, const struct kmed_client *c,
		  const char *slave, const struct etsi_enc_req *r,
		  bool nowait, struct kmed_keys *k, struct etsi_error *e)
{
	uint32_t bits = r->size ? r->size : QKDN_KEY_SIZE_DEFAULT;
	struct kmed_saes s = { .n = 0 };
	struct nlmsghdr *m;
	unsigned int i;

	if (r->n_slaves > ETSI_SLAVES_MAX)
		return etsi_fail(e, 400, "additional_slave_SAE_IDs shall have "
				 "at most %d entries", ETSI_SLAVES_MAX);
	m = qkdn_msg(nl->qs, nl->buf, QKDN_CMD_KEY_GET, 0);
	mnl_attr_put_strz(m, QKDN_A_MASTER_SAE_ID, c->sae);
	sae_put(m, &s, QKDN_A_SLAVE_SAE_ID, slave);
	/* Multicast: each more slave gets the same keys, by ID at its node. */
	for (i = 0; i < r->n_slaves; i++)
		sae_put(m, &s, QKDN_A_ADD_SLAVE_SAE_ID, r->slaves[i]);
	mnl_attr_put_u32(m, QKDN_A_KEY_NUMBER, r->number);
	mnl_attr_put_u32(m, QKDN_A_KEY_SIZE, bits);
	mnl_attr_put_strz(m, QKDN_A_SAE_CRED, c->cred);
	if (nowait)
		mnl_attr_put(m, QKDN_A_NOWAIT, 0, NULL);
	return keys_request(nl, m, r->number, (size_t)r->number * bits / 8,
			    &s, k, e);
}

int kmed_dec_keys(struct kmed_nl *nl, const struct kmed_client *c,
		  const char *master, const struct etsi_dec_req *r,
		  bool nowait, struct kmed_keys *k, struct etsi_error *e)
{
	struct nlmsghdr *m;
	unsigned int i;

	m = qkdn_msg(nl->qs, nl->buf, QKDN_CMD_KEY_GET_BY_ID, 0);
	mnl_attr_put_strz(m, QKDN_A_MASTER_SAE_ID, master);
	mnl_attr_put_strz(m, QKDN_A_SLAVE_SAE_ID, c->sae);
	for (i = 0; i < r->n; i++) {
		struct nlattr *nest = mnl_attr_nest_start(m, QKDN_A_KEY);

		mnl_attr_put(m, QKDN_A_KEY_ID, QKDN_KEY_ID_LEN, r->ids[i]);
		mnl_attr_nest_end(m, nest);
	}
	mnl_attr_put_strz(m, QKDN_A_SAE_CRED, c->cred);
	if (nowait)
		mnl_attr_put(m, QKDN_A_NOWAIT, 0, NULL);
	return keys_request(nl, m, r->n,
			    (size_t)r->n * (QKDN_KEY_SIZE_MAX / 8), NULL, k, e);
}

/* ---- status ---- */

struct status_parse {
	char node[QKDN_ID_MAX];		/* NODE_GET, POOL_GET: this node */
	char peer[QKDN_ID_MAX];		/* POOL_GET, SAE_GET: the slave's */
	uint32_t stored, max_count;
	uint64_t avail;			/* ROUTE_GET: the route's key */
	bool found;
};

static void str_attr(char *out, const struct nlattr *a)
{
	if (a)
		snprintf(out, QKDN_ID_MAX, "%s", mnl_attr_get_str(a));
}

static int pool_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[QKDN_A_MAX + 1];
	struct status_parse *s = data;

	if (qkdn_parse(nlh, tb))
		return MNL_CB_OK;
	str_attr(s->node, tb[QKDN_A_NODE_ID]);
	str_attr(s->peer, tb[QKDN_A_PEER_NODE_ID]);
	if (tb[QKDN_A_POOL_STORED_KEY_COUNT])
		s->stored = mnl_attr_get_u32(tb[QKDN_A_POOL_STORED_KEY_COUNT]);
	if (tb[QKDN_A_POOL_MAX_KEY_COUNT])
		s->max_count = mnl_attr_get_u32(tb[QKDN_A_POOL_MAX_KEY_COUNT]);
	s->found = true;
	return MNL_CB_OK;
}

static int sae_node_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[QKDN_A_MAX + 1];

	if (!qkdn_parse(nlh, tb))
		str_attr(((struct status_parse *)data)->peer,
			 tb[QKDN_A_SAE_NODE_ID]);
	return MNL_CB_OK;
}

static int node_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[QKDN_A_MAX + 1];

	if (!qkdn_parse(nlh, tb))
		str_attr(((struct status_parse *)data)->node,
			 tb[QKDN_A_NODE_ID]);
	return MNL_CB_OK;
}

static int route_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[QKDN_A_MAX + 1];
	struct status_parse *s = data;

	if (qkdn_parse(nlh, tb) || !tb[QKDN_A_DST_NODE_ID] ||
	    strcmp(mnl_attr_get_str(tb[QKDN_A_DST_NODE_ID]), s->peer))
		return MNL_CB_OK;
	if (tb[QKDN_A_ROUTE_AVAIL])
		s->avail = mnl_attr_get_u64(tb[QKDN_A_ROUTE_AVAIL]);
	s->found = true;
	return MNL_CB_OK;
}

/* A slave SAE behind a node without a link to this one: the route's key. */
static int status_relayed(struct kmed_nl *nl, const char *slave,
			  struct status_parse *s, struct etsi_error *e)
{
	const uint32_t kb = QKDN_KEY_SIZE_DEFAULT / 8;
	struct nlmsghdr *m;
	int err;

	m = qkdn_msg(nl->qs, nl->buf, QKDN_CMD_SAE_GET, 0);
	mnl_attr_put_strz(m, QKDN_A_SAE_ID, slave);
	err = qkdn_request(nl->qs, m, sae_node_cb, s);
	if (!err) {
		m = qkdn_msg(nl->qs, nl->buf, QKDN_CMD_NODE_GET, 0);
		err = qkdn_request(nl->qs, m, node_cb, s);
	}
	if (!err) {
		m = qkdn_msg(nl->qs, nl->buf, QKDN_CMD_ROUTE_GET, NLM_F_DUMP);
		err = qkdn_request(nl->qs, m, route_cb, s);
	}
	if (err)
		return kernel_fail(nl, err, e);
	if (!s->found)
		return etsi_fail(e, 503, "no QKD link and no route to %s's KME",
				 slave);
	s->stored = s->avail / kb > UINT32_MAX ? UINT32_MAX : s->avail / kb;
	s->max_count = s->stored;
	return 0;
}

int kmed_status(struct kmed_nl *nl, const struct kmed_client *c,
		const char *slave, char **out, size_t *len,
		struct etsi_error *e)
{
	struct status_parse s = { .found = false };
	struct etsi_limits lim;
	struct etsi_status st;
	struct nlmsghdr *m;
	int err;

	m = qkdn_msg(nl->qs, nl->buf, QKDN_CMD_POOL_GET, 0);
	mnl_attr_put_strz(m, QKDN_A_SLAVE_SAE_ID, slave);
	err = qkdn_request(nl->qs, m, pool_cb, &s);
	if (err == -EHOSTUNREACH)
		err = status_relayed(nl, slave, &s, e) ? 1 : 0;
	else if (err)
		err = kernel_fail(nl, err, e) ? 1 : 0;
	if (err)
		return -1;
	kmed_limits(&lim);
	st = (struct etsi_status) {
		.source_kme = s.node,
		.target_kme = s.peer,
		.master_sae = c->sae,
		.slave_sae = slave,
		.key_size = QKDN_KEY_SIZE_DEFAULT,
		.stored_key_count = s.stored,
		.max_key_count = s.max_count,
		.max_key_per_request = lim.max_key_per_request,
		.max_key_size = lim.max_key_size,
		.min_key_size = lim.min_key_size,
		.max_sae_id_count = lim.max_sae_id_count,
	};
	if (etsi_status_json(&st, out, len))
		return etsi_fail(e, 503, "out of memory");
	return 0;
}
