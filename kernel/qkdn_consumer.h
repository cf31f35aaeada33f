/* SPDX-License-Identifier: GPL-2.0 */
/*
 * qkdn consumer API: QKD keys for kernel code, without user space.
 *
 * The same key requests as the generic netlink family's KEY_GET and
 * KEY_GET_BY_ID (ITU-T Q.4160 I.1, I.5a, I.5b), under the same rules: the
 * caller acts as a local SAE for the credentials it passes (their euid
 * must be the SAE's uid), and a key is supplied once. Every function may
 * sleep: process context only, no spinlock held. See
 * Documentation/consumer-api.md.
 */
#ifndef _QKDN_CONSUMER_H
#define _QKDN_CONSUMER_H

#include <linux/key.h>
#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/types.h>
#include <linux/uidgid.h>
#include <linux/qkdn.h>

struct cred;
struct net;

/*
 * A key, reference counted. Its bytes are erased when the last reference
 * goes (qkdn_ckey_put()). Read-only once returned.
 */
struct qkdn_ckey {
	refcount_t ref;
	u8 id[QKDN_KEY_ID_LEN];		/* a UUID, binary */
	u32 len;			/* bytes */
	u8 data[];
};

static inline struct qkdn_ckey *qkdn_ckey_get(struct qkdn_ckey *key)
{
	refcount_inc(&key->ref);
	return key;
}

void qkdn_ckey_put(struct qkdn_ckey *key);
void qkdn_ckeys_put(struct qkdn_ckey **keys, u32 n);

/* Fail with -EWOULDBLOCK rather than wait for a relay or a reservation. */
#define QKDN_CONSUMER_NOWAIT	0x1

/*
 * "key request": number keys of the given size in bits for the SAE pair, into
 * keys[0..number - 1] (one reference each). master must be a local SAE
 * cred may act as. Returns 0 or a negative errno, with a reason in *why
 * (a string constant or one the module keeps; may be NULL).
 */
int qkdn_consumer_get_keys(struct net *net, const struct cred *cred,
			   const char *master, const char *slave, u32 number,
			   u32 bits, u32 flags, struct qkdn_ckey **keys,
			   const char **why);

/*
 * "key request with ID": the n keys with the IDs ids (n * QKDN_KEY_ID_LEN
 * bytes) the master SAE's KM reserved for the slave SAE, which must be a
 * local SAE cred may act as. Each key is supplied once.
 */
int qkdn_consumer_get_keys_by_id(struct net *net, const struct cred *cred,
				 const char *master, const char *slave,
				 const u8 *ids, u32 n, u32 flags,
				 struct qkdn_ckey **keys, const char **why);

/*
 * The key type "qkdn" (keytype.c, Documentation/keyring.md): a QKD key in
 * a kernel key, got with request_key(&key_type_qkdn, desc, "") for the
 * current credentials in the current network namespace, desc being
 * "master=M slave=S [bits=N]" or "id=UUID master=M slave=S".
 */
extern struct key_type key_type_qkdn;

/* The payload of a "qkdn" key. Erased (and NULL) once revoked. */
struct qkdn_key_payload {
	struct rcu_head rcu;
	kuid_t uid;			/* the SAE's, the only reader from
					 * user space
					 */
	bool by_id;			/* "key request with ID" (slave) */
	u8 id[QKDN_KEY_ID_LEN];		/* a UUID, binary */
	char master[QKDN_ID_MAX];
	char slave[QKDN_ID_MAX];
	u32 len;			/* bytes */
	u8 data[];
};

/*
 * The payload of a "qkdn" key, for a caller holding key->sem (read is
 * enough) who checked key_validate(key) == 0; NULL once revoked.
 */
static inline const struct qkdn_key_payload *
qkdn_key_payload_locked(const struct key *key)
{
	return dereference_key_locked(key);
}

/* The same, under rcu_read_lock(). */
static inline const struct qkdn_key_payload *
qkdn_key_payload_rcu(const struct key *key)
{
	return dereference_key_rcu(key);
}

#endif /* _QKDN_CONSUMER_H */
