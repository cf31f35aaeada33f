// SPDX-License-Identifier: GPL-2.0
/*
 * The key type "qkdn": QKD keys in the kernel's keyrings.
 *
 * A key's description names the request: "master=M slave=S [bits=N]" is
 * the master SAE's "key request" (a new key), "id=UUID master=M slave=S"
 * the slave SAE's "key request with ID". The key is taken from the node of
 * the requester's network namespace through the consumer API, for the
 * requester's credentials, so the rules of the netlink requests apply. No
 * upcall: request_key() instantiates the key in the requester's context
 * (.request_key), add_key() in .preparse. From user space only the SAE the
 * key was taken for may read the bytes (.read); revocation and destruction
 * erase them. See Documentation/keyring.md.
 */

#include <keys/request_key_auth-type.h>
#include <linux/cred.h>
#include <linux/key-type.h>
#include <linux/module.h>
#include <linux/nsproxy.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uuid.h>
#include <net/net_namespace.h>

#include "qkdn.h"
#include "qkdn_consumer.h"

#define QKDN_KT_DESC_MAX	256	/* bytes of a description, with NUL */

/* A description, parsed. */
struct qkdn_kt_req {
	const char *master;
	const char *slave;
	u32 bits;
	bool by_id;
	u8 id[QKDN_KEY_ID_LEN];
};

static int qkdn_kt_sae(const char *val, const char **sae)
{
	if (*sae || !*val || strlen(val) >= QKDN_ID_MAX || !qkdn_id_valid(val))
		return -EINVAL;
	*sae = val;
	return 0;
}

/* A number of bits: 1 to 4 decimal digits, no sign, no leading zero. */
static int qkdn_kt_bits(const char *val, u32 *bits)
{
	size_t n = strlen(val), i;

	if (!n || n > 4 || val[0] == '0')
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (!isdigit(val[i]))
			return -EINVAL;
	return kstrtou32(val, 10, bits);
}

static int qkdn_kt_id(const char *val, u8 *id)
{
	uuid_t u;

	if (strlen(val) != UUID_STRING_LEN || uuid_parse(val, &u))
		return -EINVAL;
	memcpy(id, u.b, QKDN_KEY_ID_LEN);
	return 0;
}

/*
 * Parses desc (words separated by single spaces, each used once, in any
 * order) into buf, which holds the words, and req, which points into buf.
 */
static int qkdn_kt_parse(const char *desc, char *buf, struct qkdn_kt_req *req)
{
	bool have_bits = false;
	char *p = buf, *w, *val;
	int err = 0;

	if (!desc || !*desc || strscpy(buf, desc, QKDN_KT_DESC_MAX) < 0)
		return -EINVAL;
	memset(req, 0, sizeof(*req));
	req->bits = 256;
	while (!err && p) {
		w = strsep(&p, " ");
		val = strchr(w, '=');
		if (!val)
			return -EINVAL;
		*val++ = '\0';
		if (!strcmp(w, "master")) {
			err = qkdn_kt_sae(val, &req->master);
		} else if (!strcmp(w, "slave")) {
			err = qkdn_kt_sae(val, &req->slave);
		} else if (!strcmp(w, "bits") && !have_bits) {
			have_bits = true;
			err = qkdn_kt_bits(val, &req->bits);
		} else if (!strcmp(w, "id") && !req->by_id) {
			req->by_id = true;
			err = qkdn_kt_id(val, req->id);
		} else {
			err = -EINVAL;
		}
	}
	if (err || !req->master || !req->slave || (req->by_id && have_bits))
		return -EINVAL;
	return 0;
}

static int qkdn_kt_vet_description(const char *desc)
{
	struct qkdn_kt_req req;
	char *buf;
	int err;

	buf = kmalloc(QKDN_KT_DESC_MAX, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	err = qkdn_kt_parse(desc, buf, &req);
	kfree(buf);
	return err;
}

/*
 * Takes the key the description asks for, from the node of the current
 * network namespace, for the current credentials (those of the task that
 * requests or adds the key). The payload is the node's: none may be given.
 */
static int qkdn_kt_preparse(struct key_preparsed_payload *prep)
{
	struct net *net = current->nsproxy->net_ns;
	const struct cred *cred = current_cred();
	struct qkdn_key_payload *p;
	struct qkdn_ckey *ck = NULL;
	struct qkdn_kt_req req;
	const char *why = NULL;
	char *buf;
	int err;

	if (prep->datalen) {
		pr_debug("key type: no payload may be given\n");
		return -EINVAL;
	}
	buf = kmalloc(QKDN_KT_DESC_MAX, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	err = qkdn_kt_parse(prep->orig_description, buf, &req);
	if (err) {
		pr_debug("key type: bad description\n");
		goto out;
	}
	/* Allocated before the key is taken: a taken key cannot be lost. */
	p = kzalloc(struct_size(p, data, QKDN_KEY_SIZE_MAX / 8), GFP_KERNEL);
	err = -ENOMEM;
	if (!p)
		goto out;
	if (req.by_id)
		err = qkdn_consumer_get_keys_by_id(net, cred, req.master,
						   req.slave, req.id, 1, 0,
						   &ck, &why);
	else
		err = qkdn_consumer_get_keys(net, cred, req.master, req.slave,
					     1, req.bits, 0, &ck, &why);
	if (err) {
		pr_debug("key type: %s -> %s: %d %s\n", req.master, req.slave,
			 err, why ?: "");
		kfree(p);
		goto out;
	}
	p->uid = cred->euid;
	p->by_id = req.by_id;
	memcpy(p->id, ck->id, QKDN_KEY_ID_LEN);
	strscpy(p->master, req.master, sizeof(p->master));
	strscpy(p->slave, req.slave, sizeof(p->slave));
	p->len = ck->len;
	memcpy(p->data, ck->data, ck->len);
	qkdn_ckey_put(ck);
	prep->payload.data[0] = p;
	prep->quotalen = sizeof(*p) + p->len;
out:
	kfree(buf);
	return err;
}

static void qkdn_kt_free_preparse(struct key_preparsed_payload *prep)
{
	kfree_sensitive(prep->payload.data[0]);
}

/*
 * request_key() without an upcall: the key is instantiated here, in the
 * requester's context, with the requester's credentials. A refusal is not
 * remembered: the negative key expires at once, so that the next request
 * asks the node again.
 */
static int qkdn_kt_request_key(struct key *authkey, void *aux)
{
	struct request_key_auth *rka = get_request_key_auth(authkey);
	int err;

	err = key_instantiate_and_link(rka->target_key, NULL, 0, NULL,
				       authkey);
	if (err)
		key_reject_and_link(rka->target_key, 0, -err, NULL, authkey);
	return err;
}

static void qkdn_kt_free_rcu(struct rcu_head *rcu)
{
	kfree_sensitive(container_of(rcu, struct qkdn_key_payload, rcu));
}

/* Erases the bytes once readers under RCU are done. key->sem is held. */
static void qkdn_kt_revoke(struct key *key)
{
	struct qkdn_key_payload *p = dereference_key_locked(key);

	key_payload_reserve(key, 0);
	if (p) {
		rcu_assign_keypointer(key, NULL);
		call_rcu(&p->rcu, qkdn_kt_free_rcu);
	}
}

static void qkdn_kt_destroy(struct key *key)
{
	kfree_sensitive(key->payload.data[0]);
}

/* The SAE pair and the key ID; never the bytes. Under rcu_read_lock(). */
static void qkdn_kt_describe(const struct key *key, struct seq_file *m)
{
	const struct qkdn_key_payload *p;

	seq_puts(m, key->description);
	if (!key_is_positive(key))
		return;
	p = dereference_key_rcu(key);
	if (p)
		seq_printf(m, ": key %pUb %u bits", p->id, p->len * 8);
}

/*
 * The bytes, to the SAE the key was taken for only: the reader's euid
 * must be that SAE's uid, root's included. key->sem is read-locked.
 */
static long qkdn_kt_read(const struct key *key, char *buffer, size_t buflen)
{
	const struct qkdn_key_payload *p = dereference_key_locked(key);

	if (!p)
		return -EKEYREVOKED;
	if (!uid_eq(current_euid(), p->uid)) {
		pr_debug("key type: key %pUb: reader is not the %s SAE\n",
			 p->id, p->by_id ? "slave" : "master");
		return -EACCES;
	}
	if (buffer && buflen)
		memcpy(buffer, p->data, min_t(size_t, buflen, p->len));
	return p->len;
}

struct key_type key_type_qkdn = {
	.name			= "qkdn",
	.def_datalen		= sizeof(struct qkdn_key_payload) +
				  QKDN_KEY_SIZE_DEFAULT / 8,
	.flags			= KEY_TYPE_NET_DOMAIN | KEY_TYPE_INSTANT_REAP,
	.vet_description	= qkdn_kt_vet_description,
	.preparse		= qkdn_kt_preparse,
	.free_preparse		= qkdn_kt_free_preparse,
	.instantiate		= generic_key_instantiate,
	.request_key		= qkdn_kt_request_key,
	.revoke			= qkdn_kt_revoke,
	.destroy		= qkdn_kt_destroy,
	.describe		= qkdn_kt_describe,
	.read			= qkdn_kt_read,
};
EXPORT_SYMBOL_GPL(key_type_qkdn);

int qkdn_keytype_init(void)
{
	return register_key_type(&key_type_qkdn);
}

/* Every key of the type is destroyed (erased) before this returns. */
void qkdn_keytype_exit(void)
{
	unregister_key_type(&key_type_qkdn);
	/* Revoked payloads may still wait for qkdn_kt_free_rcu(). */
	rcu_barrier();
}
