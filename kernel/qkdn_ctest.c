// SPDX-License-Identifier: GPL-2.0
/*
 * qkdn_ctest: a consumer of the qkdn consumer API, for its tests.
 *
 * Root writes a request to /sys/kernel/debug/qkdn_ctest/ctl; the module
 * makes it through the API on behalf of uid UID (the writer's credentials
 * with that euid) in the writer's network namespace, and keeps the keys
 * (references) until "put" or until it is unloaded:
 *
 *   get UID MASTER SLAVE NUMBER BITS [nowait]
 *   byid UID MASTER SLAVE UUID [UUID]... [nowait]
 *   keyring UID DESCRIPTION...
 *   put
 *
 * "keyring" asks the key type "qkdn" instead: request_key() for uid UID
 * (the writer's credentials with that euid and fsuid, in force through
 * override_creds()), then reads the payload under the key's semaphore and
 * drops its reference (the key stays in the keyrings request_key() linked
 * it to).
 *
 * Reading ctl gives the last answer: "ok N", then per key its ID and the
 * SHA-256 of its bytes (so that tests can compare keys without seeing
 * them), or "err ERRNO REASON". The key bytes never leave the kernel.
 */

#include <crypto/sha2.h>
#include <linux/cred.h>
#include <linux/debugfs.h>
#include <linux/key.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/nsproxy.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uuid.h>
#include <net/net_namespace.h>

#include "qkdn_consumer.h"

#define CTEST_HELD_MAX	1024
#define CTEST_OUT_MAX	(64 + QKDN_KEYS_PER_REQUEST * (36 + 1 + 64 + 1))

static DEFINE_MUTEX(ctest_lock);
static struct qkdn_ckey *ctest_held[CTEST_HELD_MAX];
static unsigned int ctest_nheld;
static char *ctest_out;
static size_t ctest_outlen;
static struct dentry *ctest_dir;

static void ctest_put_all(void)
{
	qkdn_ckeys_put(ctest_held, ctest_nheld);
	ctest_nheld = 0;
}

/* One "ID SHA256" line of an answer, at ctest_out + len. */
static size_t ctest_answer_key(size_t len, const u8 *id, const u8 *data,
			       u32 n)
{
	u8 digest[SHA256_DIGEST_SIZE];

	sha256(data, n, digest);
	len += scnprintf(ctest_out + len, CTEST_OUT_MAX - len, "%pUb %*phN\n",
			 id, SHA256_DIGEST_SIZE, digest);
	memzero_explicit(digest, sizeof(digest));
	return len;
}

static void ctest_answer(int err, const char *why, struct qkdn_ckey **keys,
			 u32 n)
{
	size_t len;
	u32 i;

	if (err) {
		ctest_outlen = scnprintf(ctest_out, CTEST_OUT_MAX,
					 "err %d %s\n", -err,
					 why && *why ? why : "-");
		return;
	}
	len = scnprintf(ctest_out, CTEST_OUT_MAX, "ok %u\n", n);
	for (i = 0; i < n; i++)
		len = ctest_answer_key(len, keys[i]->id, keys[i]->data,
				       keys[i]->len);
	ctest_outlen = len;
}

static int ctest_uuid(const char *s, u8 *id)
{
	uuid_t u;

	if (uuid_parse(s, &u))
		return -EINVAL;
	memcpy(id, u.b, QKDN_KEY_ID_LEN);
	return 0;
}

/* The writer's credentials, acting as uid (as a setuid helper would). */
static struct cred *ctest_cred(const char *word)
{
	struct cred *cred;
	kuid_t kuid;
	uid_t uid;

	if (kstrtou32(word, 0, &uid))
		return ERR_PTR(-EINVAL);
	kuid = make_kuid(current_user_ns(), uid);
	if (!uid_valid(kuid))
		return ERR_PTR(-EINVAL);
	cred = prepare_creds();
	if (!cred)
		return ERR_PTR(-ENOMEM);
	cred->euid = kuid;
	cred->fsuid = kuid;
	return cred;
}

/*
 * "keyring UID DESCRIPTION...": request_key() of a "qkdn" key acting for
 * uid, as a kernel service would, and the payload read under key->sem.
 */
static int ctest_keyring(char **words, int nw)
{
	const struct qkdn_key_payload *p;
	const struct cred *old;
	struct cred *cred;
	struct key *key;
	char *desc;
	size_t len = 0;
	int i, err;

	cred = ctest_cred(words[1]);
	if (IS_ERR(cred))
		return PTR_ERR(cred);
	desc = kzalloc(4096, GFP_KERNEL);
	err = -ENOMEM;
	if (!desc)
		goto out;
	for (i = 2; i < nw; i++)
		len += scnprintf(desc + len, 4096 - len, "%s%s",
				 i > 2 ? " " : "", words[i]);
	old = override_creds(cred);
	key = request_key(&key_type_qkdn, desc, "");
	revert_creds(old);
	if (IS_ERR(key)) {
		ctest_answer(PTR_ERR(key), NULL, NULL, 0);
		err = 0;
		goto out;
	}
	down_read(&key->sem);
	err = key_validate(key);
	p = err ? NULL : qkdn_key_payload_locked(key);
	if (p) {
		len = scnprintf(ctest_out, CTEST_OUT_MAX, "ok 1\n");
		ctest_outlen = ctest_answer_key(len, p->id, p->data, p->len);
	} else {
		ctest_answer(err ?: -EKEYREVOKED, NULL, NULL, 0);
	}
	up_read(&key->sem);
	key_put(key);
	err = 0;
out:
	kfree(desc);
	put_cred(cred);
	return err;
}

/* Runs one command; words[] are its NUL-terminated words. */
static int ctest_run(char **words, int nw)
{
	struct net *net = current->nsproxy->net_ns;
	struct qkdn_ckey **keys = NULL;
	struct cred *cred = NULL;
	const char *why = NULL;
	u32 flags = 0, n = 0, bits, i;
	u8 *ids = NULL;
	int err;

	if (nw == 1 && !strcmp(words[0], "put")) {
		ctest_put_all();
		ctest_answer(0, NULL, NULL, 0);
		return 0;
	}
	if (nw >= 3 && !strcmp(words[0], "keyring"))
		return ctest_keyring(words, nw);
	if (nw > 4 && !strcmp(words[nw - 1], "nowait")) {
		flags |= QKDN_CONSUMER_NOWAIT;
		nw--;
	}
	if (nw < 5)
		return -EINVAL;
	cred = ctest_cred(words[1]);
	if (IS_ERR(cred))
		return PTR_ERR(cred);
	keys = kcalloc(QKDN_KEYS_PER_REQUEST, sizeof(*keys), GFP_KERNEL);
	err = -ENOMEM;
	if (!keys)
		goto out;
	if (!strcmp(words[0], "get") && nw == 6) {
		err = kstrtou32(words[4], 0, &n);
		if (!err)
			err = kstrtou32(words[5], 0, &bits);
		if (err)
			goto out;
		/* The API bounds n; keys has room for its maximum. */
		err = qkdn_consumer_get_keys(net, cred, words[2], words[3], n,
					     bits, flags, keys, &why);
	} else if (!strcmp(words[0], "byid")) {
		n = nw - 4;
		err = -EINVAL;
		if (n > QKDN_KEYS_PER_REQUEST)
			goto out;
		ids = kmalloc_array(n, QKDN_KEY_ID_LEN, GFP_KERNEL);
		err = -ENOMEM;
		if (!ids)
			goto out;
		for (i = 0; i < n; i++) {
			err = ctest_uuid(words[4 + i], ids + i * QKDN_KEY_ID_LEN);
			if (err)
				goto out;
		}
		err = qkdn_consumer_get_keys_by_id(net, cred, words[2],
						   words[3], ids, n, flags,
						   keys, &why);
	} else {
		err = -EINVAL;
		goto out;
	}
	ctest_answer(err, why, keys, n);
	if (!err && ctest_nheld + n > CTEST_HELD_MAX) {
		qkdn_ckeys_put(keys, n);
		err = -ENOSPC;
	}
	for (i = 0; !err && i < n; i++)
		ctest_held[ctest_nheld++] = keys[i];
	/* An API error is an answer, not a failed write. */
	err = 0;
out:
	put_cred(cred);
	kfree(ids);
	kfree(keys);
	return err;
}

static ssize_t ctest_write(struct file *file, const char __user *ubuf,
			   size_t count, loff_t *ppos)
{
	char *buf, *p, *words[4 + QKDN_KEYS_PER_REQUEST + 1];
	int nw = 0, err;

	if (count > 8192)
		return -E2BIG;
	buf = memdup_user_nul(ubuf, count);
	if (IS_ERR(buf))
		return PTR_ERR(buf);
	p = strim(buf);
	while (p && *p && nw < ARRAY_SIZE(words)) {
		char *w = strsep(&p, " \t\n");

		if (*w)
			words[nw++] = w;
	}
	err = -EINVAL;
	if (nw && (!p || !*p)) {
		mutex_lock(&ctest_lock);
		err = ctest_run(words, nw);
		mutex_unlock(&ctest_lock);
	}
	kfree(buf);
	return err ?: count;
}

static ssize_t ctest_read(struct file *file, char __user *ubuf, size_t count,
			  loff_t *ppos)
{
	ssize_t ret;

	mutex_lock(&ctest_lock);
	ret = simple_read_from_buffer(ubuf, count, ppos, ctest_out,
				      ctest_outlen);
	mutex_unlock(&ctest_lock);
	return ret;
}

static const struct file_operations ctest_fops = {
	.owner = THIS_MODULE,
	.read = ctest_read,
	.write = ctest_write,
	.llseek = default_llseek,
};

static int __init ctest_init(void)
{
	ctest_out = kzalloc(CTEST_OUT_MAX, GFP_KERNEL);
	if (!ctest_out)
		return -ENOMEM;
	ctest_dir = debugfs_create_dir("qkdn_ctest", NULL);
	debugfs_create_file("ctl", 0600, ctest_dir, NULL, &ctest_fops);
	return 0;
}

static void __exit ctest_exit(void)
{
	debugfs_remove_recursive(ctest_dir);
	/* Keys still held are erased here, with their last reference. */
	ctest_put_all();
	kfree(ctest_out);
}

module_init(ctest_init);
module_exit(ctest_exit);
MODULE_DESCRIPTION("qkdn consumer API test module");
MODULE_LICENSE("GPL");
