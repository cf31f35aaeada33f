// SPDX-License-Identifier: GPL-2.0
/*
 * The consumer API: key requests from other kernel code (qkdn_consumer.h).
 *
 * The same paths as the netlink key requests (key.c), with the caller's
 * credentials in place of the requesting socket's, and the keys copied
 * into reference-counted objects rather than a reply message.
 */

#include <linux/cred.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <net/net_namespace.h>

#include "qkdn.h"
#include "qkdn_consumer.h"

void qkdn_ckey_put(struct qkdn_ckey *key)
{
	if (key && refcount_dec_and_test(&key->ref))
		kfree_sensitive(key);
}
EXPORT_SYMBOL_GPL(qkdn_ckey_put);

void qkdn_ckeys_put(struct qkdn_ckey **keys, u32 n)
{
	u32 i;

	for (i = 0; i < n; i++) {
		qkdn_ckey_put(keys[i]);
		keys[i] = NULL;
	}
}
EXPORT_SYMBOL_GPL(qkdn_ckeys_put);

static struct qkdn_ckey *qkdn_ckey_new(const u8 *id, const u8 *data, u32 len)
{
	struct qkdn_ckey *key = kmalloc(struct_size(key, data, len),
					GFP_KERNEL);

	if (!key)
		return NULL;
	refcount_set(&key->ref, 1);
	memcpy(key->id, id, QKDN_KEY_ID_LEN);
	key->len = len;
	memcpy(key->data, data, len);
	return key;
}

/*
 * The arguments both requests share: whose credentials, the SAE IDs and a
 * number of keys.
 */
static int qkdn_consumer_args_ok(const struct cred *cred, const char *master,
				 const char *slave, u32 n,
				 struct netlink_ext_ack *extack)
{
	if (WARN_ON_ONCE(!cred)) {
		NL_SET_ERR_MSG(extack, "no credentials to act for");
		return -EINVAL;
	}
	if (!master || !slave ||
	    strnlen(master, QKDN_ID_MAX) == QKDN_ID_MAX ||
	    strnlen(slave, QKDN_ID_MAX) == QKDN_ID_MAX ||
	    !qkdn_id_valid(master) || !qkdn_id_valid(slave)) {
		NL_SET_ERR_MSG(extack,
			       "ID must be 1 to 63 of A-Z a-z 0-9 . _ - : @");
		return -EINVAL;
	}
	if (!n || n > QKDN_KEYS_PER_REQUEST) {
		NL_SET_ERR_MSG(extack, "number of keys out of range");
		return -EINVAL;
	}
	return 0;
}

static void qkdn_consumer_why(const struct netlink_ext_ack *extack,
			      const char **why)
{
	if (why)
		*why = extack->_msg ?: "";
}

int qkdn_consumer_get_keys(struct net *net, const struct cred *cred,
			   const char *master, const char *slave, u32 number,
			   u32 bits, u32 flags, struct qkdn_ckey **keys,
			   const char **why)
{
	struct netlink_ext_ack extack = {};
	struct qkdn_net *qn = qkdn_net(net);
	struct qkdn_sae *m, *s;
	u32 kb = bits / 8, i;
	u8 *ids, *buf;
	int err;

	might_sleep();
	err = qkdn_consumer_args_ok(cred, master, slave, number, &extack);
	if (err)
		goto out_why;
	err = -EINVAL;
	if (bits % 8 || bits < QKDN_KEY_SIZE_MIN || bits > QKDN_KEY_SIZE_MAX) {
		NL_SET_ERR_MSG(&extack,
			       "key size shall be a multiple of 8, 64 to 8192 bits");
		goto out_why;
	}
	/* Everything allocated before a key is taken: none can be lost. */
	for (i = 0; i < number; i++)
		keys[i] = NULL;
	ids = kmalloc_array(number, QKDN_KEY_ID_LEN, GFP_KERNEL);
	buf = kzalloc(number * kb, GFP_KERNEL);
	err = -ENOMEM;
	if (!ids || !buf)
		goto out_free;
	for (i = 0; i < number; i++) {
		qkdn_key_id_gen(ids + i * QKDN_KEY_ID_LEN);
		keys[i] = qkdn_ckey_new(ids + i * QKDN_KEY_ID_LEN, buf, kb);
		if (!keys[i])
			goto out_free;
	}

	mutex_lock(&qn->lock);
	err = -ENOENT;
	m = qkdn_sae_find(qn, master);
	s = qkdn_sae_find(qn, slave);
	if (!m || !s) {
		NL_SET_ERR_MSG(&extack, "no such SAE");
		goto out_unlock;
	}
	err = -EACCES;
	if (!qkdn_may_act_cred(m, cred)) {
		NL_SET_ERR_MSG(&extack, "caller may not act as the master SAE");
		goto out_unlock;
	}
	err = -EOPNOTSUPP;
	if (s->local) {
		NL_SET_ERR_MSG(&extack, "slave SAE is served by this node");
		goto out_unlock;
	}
	err = qkdn_key_take(qn, m, s, NULL, number, kb, ids, buf, kb,
			    flags & QKDN_CONSUMER_NOWAIT, NULL, &extack);
out_unlock:
	mutex_unlock(&qn->lock);
	for (i = 0; !err && i < number; i++)
		memcpy(keys[i]->data, buf + i * kb, kb);
out_free:
	if (err)
		qkdn_ckeys_put(keys, number);
	kfree_sensitive(buf);
	kfree(ids);
out_why:
	qkdn_consumer_why(&extack, why);
	return err;
}
EXPORT_SYMBOL_GPL(qkdn_consumer_get_keys);

int qkdn_consumer_get_keys_by_id(struct net *net, const struct cred *cred,
				 const char *master, const char *slave,
				 const u8 *ids, u32 n, u32 flags,
				 struct qkdn_ckey **keys, const char **why)
{
	struct netlink_ext_ack extack = {};
	struct qkdn_net *qn = qkdn_net(net);
	struct qkdn_key_ask ask = {
		.master = master,
		.slave = slave,
		.cred = cred,
		.nowait = flags & QKDN_CONSUMER_NOWAIT,
		.extack = &extack,
	};
	struct qkdn_keytab **tabs = NULL;
	struct qkdn_key **found = NULL;
	u32 i;
	int err;

	might_sleep();
	err = qkdn_consumer_args_ok(cred, master, slave, n, &extack);
	if (err)
		goto out_why;
	err = -EINVAL;
	if (qkdn_ids_repeat(ids, n)) {
		NL_SET_ERR_MSG(&extack, "key ID repeated");
		goto out_why;
	}
	found = kcalloc(n, sizeof(*found), GFP_KERNEL);
	tabs = kcalloc(n, sizeof(*tabs), GFP_KERNEL);
	err = -ENOMEM;
	if (!found || !tabs)
		goto out_free;
	for (i = 0; i < n; i++)
		keys[i] = NULL;

	mutex_lock(&qn->lock);
	err = qkdn_key_find_ids(qn, &ask, ids, n, found, tabs);
	for (i = 0; !err && i < n; i++) {
		keys[i] = qkdn_ckey_new(found[i]->id, found[i]->data,
					found[i]->len);
		if (!keys[i]) {
			/* Nothing taken yet: the keys stay for a retry. */
			qkdn_ckeys_put(keys, i);
			err = -ENOMEM;
		}
	}
	if (!err)
		qkdn_key_ids_taken(qn, found, tabs, ids, n);
	mutex_unlock(&qn->lock);
out_free:
	kfree(tabs);
	kfree(found);
out_why:
	qkdn_consumer_why(&extack, why);
	return err;
}
EXPORT_SYMBOL_GPL(qkdn_consumer_get_keys_by_id);
