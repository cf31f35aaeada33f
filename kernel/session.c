// SPDX-License-Identifier: GPL-2.0
/*
 * Proactive key supply (ITU-T Q.4160 I.2).
 *
 * The master SAE asks its KM for a session ("session creation request");
 * the QKDN controller names it and tells the slave SAE's KM, which passes
 * the "session creation notification" to the one socket the slave SAE
 * listens on (QKDN_CMD_SAE_LISTEN) and its answer back. Then each "key
 * request with session ID" from the master SAE takes keys from the link to
 * the slave's KM and sends a "key supply notification" (a Kx frame naming
 * their place in the pool, as a reservation does); the slave's KM pushes
 * the keys to the slave SAE ("proactive key supply"), whose "response to
 * proactive key supply" lists the key IDs it took; the KM returns those
 * ("response to key supply notification") and only then does the master
 * SAE get the same keys, and only those.
 *
 * All under qn->lock.
 */

#include <linux/slab.h>
#include <linux/string.h>
#include <net/genetlink.h>

#include "qkdn.h"

#define QKDN_SESSION_WAIT_MS	10000	/* the master SAE's session request */
#define QKDN_SUPPLY_WAIT_MS	30000	/* ... and key requests with session ID */
#define QKDN_SESSION_IDLE_MS	600000	/* an unused session ends */
#define QKDN_SAE_ANSWER_MS	4000	/* the listening slave SAE answers
					 * (within the controller's 5 s)
					 */
#define QKDN_SESSIONS_MAX	1024

enum { QKDN_SESS_SRC, QKDN_SESS_DST };
enum { QKDN_SESS_PENDING, QKDN_SESS_ACTIVE, QKDN_SESS_FAILED };
enum { QKDN_SUP_WAIT, QKDN_SUP_DONE };

struct qkdn_session {
	struct list_head node;		/* qn->sessions */
	u32 id;				/* 0 until the controller names it */
	u8 role;
	u8 state;
	u32 ctrl_id;
	unsigned long deadline;
	unsigned long used;		/* last key supply */
	int err;
	char why[QKDN_ERRMSG_MAX];
	char master[QKDN_ID_MAX];
	char slave[QKDN_ID_MAX];
	char peer[QKDN_ID_MAX];		/* the other KM */
};

/* The slave SAE's socket. */
struct qkdn_listener {
	struct list_head node;		/* qn->listeners */
	char sae[QKDN_ID_MAX];
	u32 portid;
};

/* Keys of one "key supply notification", at either end. */
struct qkdn_supply {
	struct list_head node;		/* qn->supplies */
	u8 id[QKDN_RELAY_ID_LEN];
	u32 session;
	u8 role;
	u8 state;
	u32 link_id;
	u32 count, key_bytes;
	unsigned long deadline;
	int err;
	u8 *keys;			/* erased on free */
	u8 *ids;
	u8 *acked;			/* per key, 1 once the slave took it */
};

/* Kx "key supply notification" and its response. */
struct qkdn_kx_supply {
	u8 supply_id[QKDN_RELAY_ID_LEN];
	__le32 session;
	__le32 reserved;
	__le64 block_seq;	/* where the keys start in the sender's stream */
	__le32 offset;
	__le16 key_bytes;
	__le16 count;
	char master[QKDN_ID_MAX];
	char slave[QKDN_ID_MAX];
	u8 ids[][QKDN_KEY_ID_LEN];
} __packed;

struct qkdn_kx_supply_done {
	u8 supply_id[QKDN_RELAY_ID_LEN];
	__le32 session;
	__le32 err;		/* 0, or why no key was taken */
	__le16 count;		/* key IDs the slave SAE took */
	__le16 reserved;
	u8 ids[][QKDN_KEY_ID_LEN];
} __packed;

void qkdn_session_net_init(struct qkdn_net *qn)
{
	INIT_LIST_HEAD(&qn->sessions);
	INIT_LIST_HEAD(&qn->listeners);
	INIT_LIST_HEAD(&qn->supplies);
	init_waitqueue_head(&qn->session_wq);
}

static void qkdn_supply_release(struct qkdn_supply *sup)
{
	kfree_sensitive(sup->keys);
	kfree(sup->ids);
	kfree(sup->acked);
	kfree(sup);
}

static void qkdn_supply_free(struct qkdn_supply *sup)
{
	list_del(&sup->node);
	qkdn_supply_release(sup);
}

static void qkdn_session_free(struct qkdn_net *qn, struct qkdn_session *s)
{
	list_del(&s->node);
	qn->nsessions--;
	kfree(s);
}

void qkdn_session_net_exit(struct qkdn_net *qn)
{
	struct qkdn_session *s, *stmp;
	struct qkdn_listener *l, *ltmp;
	struct qkdn_supply *sup, *tmp;

	list_for_each_entry_safe(sup, tmp, &qn->supplies, node)
		qkdn_supply_free(sup);
	list_for_each_entry_safe(s, stmp, &qn->sessions, node)
		qkdn_session_free(qn, s);
	list_for_each_entry_safe(l, ltmp, &qn->listeners, node) {
		list_del(&l->node);
		kfree(l);
	}
}

static struct qkdn_session *qkdn_session_find(struct qkdn_net *qn, u32 id,
					      u8 role)
{
	struct qkdn_session *s;

	list_for_each_entry(s, &qn->sessions, node)
		if (s->id == id && s->role == role)
			return s;
	return NULL;
}

static struct qkdn_listener *qkdn_listener_find(struct qkdn_net *qn,
						const char *sae)
{
	struct qkdn_listener *l;

	list_for_each_entry(l, &qn->listeners, node)
		if (!strcmp(l->sae, sae))
			return l;
	return NULL;
}

static struct qkdn_supply *qkdn_supply_find(struct qkdn_net *qn,
					    const u8 *id, u8 role)
{
	struct qkdn_supply *sup;

	list_for_each_entry(sup, &qn->supplies, node)
		if (sup->role == role &&
		    !memcmp(sup->id, id, QKDN_RELAY_ID_LEN))
			return sup;
	return NULL;
}

static void qkdn_session_arm(struct qkdn_net *qn)
{
	if (!qn->dying && !delayed_work_pending(&qn->relay_work))
		mod_delayed_work(qkdn_wq, &qn->relay_work, HZ / 5);
}

/* ---- session creation ---- */

/*
 * Waits, dropping qn->lock, until done(arg) or the deadline. With killable,
 * only a fatal signal ends the wait early: a key supply on its way is not
 * abandoned for a mere signal.
 */
static int qkdn_session_wait(struct qkdn_net *qn, bool (*done)(void *),
			     void *arg, unsigned long deadline, bool killable)
{
	while (!done(arg)) {
		long left = (long)(deadline - jiffies);

		if (left <= 0 || qn->dying)
			return -ETIMEDOUT;
		mutex_unlock(&qn->lock);
		if (killable)
			left = wait_event_killable_timeout(qn->session_wq,
							   done(arg) ||
							   READ_ONCE(qn->dying),
							   left);
		else
			left = wait_event_interruptible_timeout(qn->session_wq,
								done(arg) ||
								READ_ONCE(qn->dying),
								left);
		mutex_lock(&qn->lock);
		if (left < 0 && !done(arg))
			return -EINTR;
	}
	return 0;
}

static bool qkdn_session_settled(void *arg)
{
	struct qkdn_session *s = arg;

	return READ_ONCE(s->state) != QKDN_SESS_PENDING;
}

/* I.2 1-2, 7-8: "session creation request" from the master SAE. */
int qkdn_nl_session_new(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_net *qn = qkdn_info_qn(info);
	struct nlattr **a = info->attrs;
	struct qkdn_sae *master, *slave;
	struct qkdn_ctrl_msg m = {
		.msg = QKDN_MSG_SESSION_CREATION_REQUEST,
	};
	struct qkdn_session *s;
	struct sk_buff *msg;
	void *hdr;
	int err;

	if (qkdn_nl_need(info, QKDN_A_MASTER_SAE_ID) ||
	    qkdn_nl_need(info, QKDN_A_SLAVE_SAE_ID))
		return -EINVAL;
	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	mutex_lock(&qn->lock);
	master = qkdn_nl_sae(qn, info, QKDN_A_MASTER_SAE_ID);
	err = PTR_ERR_OR_ZERO(master);
	if (err)
		goto out;
	slave = qkdn_nl_sae(qn, info, QKDN_A_SLAVE_SAE_ID);
	err = PTR_ERR_OR_ZERO(slave);
	if (err)
		goto out;
	err = -EACCES;
	if (!qkdn_may_act_as(qn, info, master)) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_MASTER_SAE_ID],
				    "caller may not act as the master SAE");
		goto out;
	}
	err = -EOPNOTSUPP;
	if (slave->local) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_SLAVE_SAE_ID],
				    "slave SAE is served by this node");
		goto out;
	}
	err = -EBUSY;
	if (qn->nsessions >= QKDN_SESSIONS_MAX) {
		NL_SET_ERR_MSG(info->extack, "too many sessions");
		goto out;
	}
	err = -EHOSTUNREACH;
	if (!qkdn_ctrl_present(qn)) {
		NL_SET_ERR_MSG(info->extack,
			       "no QKDN controller to create the session");
		goto out;
	}
	err = -ENOMEM;
	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		goto out;
	s->role = QKDN_SESS_SRC;
	strscpy(s->master, master->id, sizeof(s->master));
	strscpy(s->slave, slave->id, sizeof(s->slave));
	strscpy(s->peer, slave->node_id, sizeof(s->peer));
	s->ctrl_id = qkdn_ctrl_id(qn);
	s->deadline = jiffies + msecs_to_jiffies(QKDN_SESSION_WAIT_MS);
	list_add_tail(&s->node, &qn->sessions);
	qn->nsessions++;

	qkdn_nl_msg(qn, QKDN_MSG_SESSION_CREATION_REQUEST,
		    QKDN_MSG_DIR_RECEIVED, "sae", s->master, NULL, NULL,
		    s->peer, 0, 0, NULL);
	m.ctrl_id = s->ctrl_id;
	m.src = qn->node_id;
	m.dst = s->peer;
	m.master = s->master;
	m.slave = s->slave;
	err = qkdn_ctrl_send(qn, &m);
	if (!err)
		err = qkdn_session_wait(qn, qkdn_session_settled, s,
					s->deadline, false);
	if (err == -ETIMEDOUT)
		NL_SET_ERR_MSG(info->extack,
			       "the session was not created in time");
	else if (!err && s->state == QKDN_SESS_FAILED)
		err = -s->err;
	else if (err == -EINTR)
		NL_SET_ERR_MSG(info->extack, "interrupted");
	else if (err)
		NL_SET_ERR_MSG(info->extack,
			       "no QKDN controller to create the session");
	if (!err) {
		hdr = qkdn_put_hdr(msg, info->snd_portid, info->snd_seq, 0,
				   QKDN_CMD_SESSION_NEW);
		if (!hdr || nla_put_u32(msg, QKDN_A_SESSION_ID, s->id) ||
		    nla_put_string(msg, QKDN_A_MASTER_SAE_ID, s->master) ||
		    nla_put_string(msg, QKDN_A_SLAVE_SAE_ID, s->slave)) {
			err = -EMSGSIZE;
		} else {
			genlmsg_end(msg, hdr);
			qkdn_nl_msg(qn, QKDN_MSG_SESSION_CREATION_RESPONSE,
				    QKDN_MSG_DIR_SENT, "sae", s->master, NULL,
				    NULL, s->peer, 0, 0, NULL);
		}
	} else if (s->state == QKDN_SESS_FAILED) {
		if (info->extack)
			info->extack->_msg = qkdn_errmsg_keep(qn,
							      "session refused: %s",
							      s->why);
	}
	if (err)
		qkdn_session_free(qn, s);
	else
		s->ctrl_id = 0;
	mutex_unlock(&qn->lock);
	if (err) {
		nlmsg_free(msg);
		return err;
	}
	return genlmsg_reply(msg, info);
out:
	mutex_unlock(&qn->lock);
	nlmsg_free(msg);
	return err;
}

/* The controller's "response to session creation request". */
static int qkdn_session_created(struct qkdn_net *qn, struct genl_info *info,
				u32 fail, const char *why)
{
	struct nlattr **a = info->attrs;
	u32 ctrl_id = nla_get_u32(a[QKDN_A_CTRL_ID]);
	struct qkdn_session *s;
	u32 id = 0;

	list_for_each_entry(s, &qn->sessions, node)
		if (s->ctrl_id == ctrl_id && s->role == QKDN_SESS_SRC &&
		    s->state == QKDN_SESS_PENDING)
			goto found;
	NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_CTRL_ID],
			    "no controller request with this ID is waiting");
	return -ENOENT;
found:
	if (!fail) {
		if (qkdn_nl_need(info, QKDN_A_SESSION_ID))
			return -EINVAL;
		id = nla_get_u32(a[QKDN_A_SESSION_ID]);
		if (qkdn_session_find(qn, id, QKDN_SESS_SRC)) {
			NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_SESSION_ID],
					    "session ID already in use here");
			return -EEXIST;
		}
	}
	qkdn_nl_msg(qn, QKDN_MSG_SESSION_CREATION_RESPONSE,
		    QKDN_MSG_DIR_RECEIVED, "controller", NULL, NULL, NULL,
		    s->peer, 0, fail, why);
	s->id = id;
	s->err = fail;
	s->used = jiffies;
	strscpy(s->why, why, sizeof(s->why));
	s->state = fail ? QKDN_SESS_FAILED : QKDN_SESS_ACTIVE;
	wake_up_all(&qn->session_wq);
	return 0;
}

/* I.2 3-4: the controller's "session creation notification". */
static int qkdn_session_notified(struct qkdn_net *qn, struct genl_info *info)
{
	struct nlattr **a = info->attrs;
	struct qkdn_listener *l;
	struct qkdn_sae *slave;
	struct qkdn_session *s;
	struct sk_buff *msg;
	void *hdr;
	u32 id;
	int err;

	if (qkdn_nl_need(info, QKDN_A_SESSION_ID) ||
	    qkdn_nl_need(info, QKDN_A_SRC_NODE_ID) ||
	    qkdn_nl_need(info, QKDN_A_MASTER_SAE_ID) ||
	    qkdn_nl_need(info, QKDN_A_SLAVE_SAE_ID))
		return -EINVAL;
	if (!qkdn_id_valid(nla_data(a[QKDN_A_SRC_NODE_ID])) ||
	    !qkdn_id_valid(nla_data(a[QKDN_A_MASTER_SAE_ID]))) {
		NL_SET_ERR_MSG(info->extack, "node or SAE ID malformed");
		return -EINVAL;
	}
	id = nla_get_u32(a[QKDN_A_SESSION_ID]);
	slave = qkdn_nl_sae(qn, info, QKDN_A_SLAVE_SAE_ID);
	if (IS_ERR(slave))
		return PTR_ERR(slave);
	if (!slave->local) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_SLAVE_SAE_ID],
				    "slave SAE is not served by this node");
		return -EOPNOTSUPP;
	}
	if (qkdn_session_find(qn, id, QKDN_SESS_DST)) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_SESSION_ID],
				    "session ID already in use here");
		return -EEXIST;
	}
	l = qkdn_listener_find(qn, slave->id);
	if (!l) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_SLAVE_SAE_ID],
				    "the slave SAE is not listening");
		return -ECONNREFUSED;
	}
	if (qn->nsessions >= QKDN_SESSIONS_MAX) {
		NL_SET_ERR_MSG(info->extack, "too many sessions");
		return -EBUSY;
	}
	s = kzalloc(sizeof(*s), GFP_KERNEL);
	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!s || !msg) {
		kfree(s);
		nlmsg_free(msg);
		return -ENOMEM;
	}
	s->id = id;
	s->role = QKDN_SESS_DST;
	nla_strscpy(s->master, a[QKDN_A_MASTER_SAE_ID], sizeof(s->master));
	strscpy(s->slave, slave->id, sizeof(s->slave));
	nla_strscpy(s->peer, a[QKDN_A_SRC_NODE_ID], sizeof(s->peer));

	hdr = qkdn_put_hdr(msg, 0, 0, 0, QKDN_CMD_SESSION);
	if (!hdr || nla_put_u32(msg, QKDN_A_SESSION_ID, id) ||
	    nla_put_string(msg, QKDN_A_MASTER_SAE_ID, s->master) ||
	    nla_put_string(msg, QKDN_A_SLAVE_SAE_ID, s->slave) ||
	    nla_put_string(msg, QKDN_A_SRC_NODE_ID, s->peer)) {
		kfree(s);
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	err = genlmsg_unicast(qn->net, msg, l->portid);
	if (err) {
		kfree(s);
		NL_SET_ERR_MSG(info->extack,
			       "the slave SAE's socket cannot take the notification");
		return -ECONNREFUSED;
	}
	s->deadline = jiffies + msecs_to_jiffies(QKDN_SAE_ANSWER_MS);
	list_add_tail(&s->node, &qn->sessions);
	qn->nsessions++;
	qkdn_session_arm(qn);
	qkdn_nl_msg(qn, QKDN_MSG_SESSION_CREATION_NOTIFICATION,
		    QKDN_MSG_DIR_RECEIVED, "controller", NULL, NULL, s->peer,
		    NULL, 0, 0, NULL);
	qkdn_nl_msg(qn, QKDN_MSG_SESSION_CREATION_NOTIFICATION,
		    QKDN_MSG_DIR_SENT, "sae", s->slave, NULL, s->peer, NULL, 0,
		    0, NULL);
	return 0;
}

/* "response to session creation notification", to the controller. */
static void qkdn_session_answer(struct qkdn_net *qn, struct qkdn_session *s,
				int err)
{
	struct qkdn_ctrl_msg m = {
		.msg = QKDN_MSG_SESSION_NOTIFICATION_RESPONSE,
		.session = s->id, .src = s->peer, .dst = qn->node_id,
		.master = s->master, .slave = s->slave,
		.err = err, .has_err = true,
	};

	qkdn_ctrl_send(qn, &m);
	if (err) {
		qkdn_session_free(qn, s);
	} else {
		s->state = QKDN_SESS_ACTIVE;
		s->used = jiffies;
	}
}

int qkdn_session_ctrl(struct qkdn_net *qn, u32 msg, struct genl_info *info,
		      u32 fail, const char *why)
{
	if (msg == QKDN_MSG_SESSION_CREATION_RESPONSE)
		return qkdn_session_created(qn, info, fail, why);
	return qkdn_session_notified(qn, info);
}

/* The listening SAE's socket, checked. */
static struct qkdn_listener *qkdn_nl_listener(struct qkdn_net *qn,
					      struct genl_info *info,
					      const char *sae)
{
	struct qkdn_listener *l = qkdn_listener_find(qn, sae);
	struct qkdn_sae *s = qkdn_sae_find(qn, sae);

	if (!l || l->portid != info->snd_portid || !s ||
	    !qkdn_may_act_as(qn, info, s)) {
		NL_SET_ERR_MSG(info->extack,
			       "only the socket listening for the slave SAE may answer");
		return NULL;
	}
	return l;
}

/* I.2 5-6: "response to session creation notification" from the SAE. */
int qkdn_nl_session(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_net *qn = qkdn_info_qn(info);
	struct nlattr **a = info->attrs;
	struct qkdn_session *s;
	int err = 0, answer = 0;

	if (qkdn_nl_need(info, QKDN_A_SESSION_ID))
		return -EINVAL;
	if (a[QKDN_A_ERRNO])
		answer = nla_get_u32(a[QKDN_A_ERRNO]);
	mutex_lock(&qn->lock);
	s = qkdn_session_find(qn, nla_get_u32(a[QKDN_A_SESSION_ID]),
			      QKDN_SESS_DST);
	if (!s || s->state != QKDN_SESS_PENDING) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_SESSION_ID],
				    "no session notification awaits an answer");
		err = -ENOENT;
	} else if (!qkdn_nl_listener(qn, info, s->slave)) {
		err = -EACCES;
	} else {
		qkdn_nl_msg(qn, QKDN_MSG_SESSION_NOTIFICATION_RESPONSE,
			    QKDN_MSG_DIR_RECEIVED, "sae", s->slave, NULL,
			    s->peer, NULL, 0, answer, NULL);
		qkdn_session_answer(qn, s, answer);
	}
	mutex_unlock(&qn->lock);
	return err;
}

/* The slave SAE's application takes its notifications on this socket. */
int qkdn_nl_sae_listen(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_net *qn = qkdn_info_qn(info);
	struct nlattr **a = info->attrs;
	struct qkdn_listener *l;
	struct qkdn_sae *sae;
	int err = 0;

	if (qkdn_nl_need(info, QKDN_A_SAE_ID))
		return -EINVAL;
	mutex_lock(&qn->lock);
	sae = qkdn_nl_sae(qn, info, QKDN_A_SAE_ID);
	if (IS_ERR(sae)) {
		err = PTR_ERR(sae);
		goto out;
	}
	if (!qkdn_may_act_as(qn, info, sae)) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_SAE_ID],
				    "caller may not act as this SAE");
		err = -EACCES;
		goto out;
	}
	l = qkdn_listener_find(qn, sae->id);
	if (l && l->portid != info->snd_portid) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_SAE_ID],
				    "another socket listens for this SAE");
		err = -EBUSY;
		goto out;
	}
	if (!l) {
		l = kzalloc(sizeof(*l), GFP_KERNEL);
		if (!l) {
			err = -ENOMEM;
			goto out;
		}
		strscpy(l->sae, sae->id, sizeof(l->sae));
		l->portid = info->snd_portid;
		list_add_tail(&l->node, &qn->listeners);
	}
out:
	mutex_unlock(&qn->lock);
	return err;
}

/* ---- key supply ---- */

static struct qkdn_supply *qkdn_supply_new(u32 count, u32 kb)
{
	struct qkdn_supply *sup = kzalloc(sizeof(*sup), GFP_KERNEL);

	if (!sup)
		return NULL;
	sup->keys = kzalloc(count * kb, GFP_KERNEL);
	sup->ids = kmalloc_array(count, QKDN_KEY_ID_LEN, GFP_KERNEL);
	sup->acked = kzalloc(count, GFP_KERNEL);
	if (!sup->keys || !sup->ids || !sup->acked) {
		qkdn_supply_release(sup);
		return NULL;
	}
	sup->count = count;
	sup->key_bytes = kb;
	return sup;
}

static bool qkdn_supply_settled(void *arg)
{
	struct qkdn_supply *sup = arg;

	return READ_ONCE(sup->state) == QKDN_SUP_DONE;
}

/*
 * I.2 9-10, 13-14: "key request with session ID". Builds the reply into
 * msg (the caller sends it) with the keys the slave SAE took.
 */
int qkdn_session_key_get(struct qkdn_net *qn, struct genl_info *info,
			 u32 number, u32 kb, struct sk_buff *msg)
{
	char master[QKDN_ID_MAX], peer[QKDN_ID_MAX];
	struct nlattr **a = info->attrs;
	struct qkdn_kx_supply *body;
	struct qkdn_session *s;
	struct qkdn_supply *sup;
	struct qkdn_frame *f;
	struct qkdn_link *link;
	u32 i, taken = 0;
	void *hdr;
	u64 seq;
	u32 off;
	int err;

	s = qkdn_session_find(qn, nla_get_u32(a[QKDN_A_SESSION_ID]),
			      QKDN_SESS_SRC);
	if (!s || s->state != QKDN_SESS_ACTIVE) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_SESSION_ID],
				    "no such session");
		return -ENOENT;
	}
	if (nla_strcmp(a[QKDN_A_MASTER_SAE_ID], s->master) ||
	    nla_strcmp(a[QKDN_A_SLAVE_SAE_ID], s->slave)) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_SESSION_ID],
				    "the session is for another SAE pair");
		return -EACCES;
	}
	link = qkdn_link_by_peer(qn, s->peer);
	if (!link) {
		NL_SET_ERR_MSG(info->extack,
			       "proactive key supply needs a QKD link to the slave SAE's KM");
		return -EHOSTUNREACH;
	}
	if (link->own.bytes < (u64)number * kb) {
		NL_SET_ERR_MSG(info->extack, "not enough key in the pool");
		return -ENOSPC;
	}
	sup = qkdn_supply_new(number, kb);
	f = qkdn_kx_alloc(QKDN_KX_SUPPLY,
			  sizeof(*body) + number * QKDN_KEY_ID_LEN, 0);
	if (!sup || !f) {
		kfree(f);
		if (sup)
			qkdn_supply_release(sup);
		return -ENOMEM;
	}
	qkdn_key_id_gen(sup->id);
	for (i = 0; i < number; i++)
		qkdn_key_id_gen(sup->ids + i * QKDN_KEY_ID_LEN);
	sup->session = s->id;
	sup->role = QKDN_SESS_SRC;
	sup->link_id = link->id;
	sup->deadline = jiffies + msecs_to_jiffies(QKDN_SUPPLY_WAIT_MS);
	list_add_tail(&sup->node, &qn->supplies);
	s->used = jiffies;
	strscpy(master, s->master, sizeof(master));
	strscpy(peer, s->peer, sizeof(peer));

	body = (struct qkdn_kx_supply *)qkdn_kx_body(f);
	memcpy(body->supply_id, sup->id, QKDN_RELAY_ID_LEN);
	body->session = cpu_to_le32(s->id);
	qkdn_store_position(&link->own, &seq, &off);
	body->block_seq = cpu_to_le64(seq);
	body->offset = cpu_to_le32(off);
	body->key_bytes = cpu_to_le16(kb);
	body->count = cpu_to_le16(number);
	strscpy(body->master, s->master, sizeof(body->master));
	strscpy(body->slave, s->slave, sizeof(body->slave));
	memcpy(body->ids, sup->ids, number * QKDN_KEY_ID_LEN);
	qkdn_store_take(&link->own, sup->keys, number * kb);
	link->stats.keys_reserved += number;
	qkdn_kx_queue(link, f);
	qkdn_nl_msg(qn, QKDN_MSG_KEY_REQUEST_WITH_SESSION_ID,
		    QKDN_MSG_DIR_RECEIVED, "sae", s->master, NULL, NULL,
		    s->peer, number, 0, NULL);
	qkdn_nl_msg(qn, QKDN_MSG_KEY_SUPPLY_NOTIFICATION, QKDN_MSG_DIR_SENT,
		    "km", s->peer, NULL, NULL, s->peer, number, 0, NULL);

	err = qkdn_session_wait(qn, qkdn_supply_settled, sup, sup->deadline,
				true);
	if (!err && sup->err)
		err = -sup->err;
	for (i = 0; !err && i < number; i++)
		taken += sup->acked[i];
	if (!err && !taken)
		err = -ENODATA;
	if (err == -ENODATA)
		NL_SET_ERR_MSG(info->extack, "the slave SAE took none of the keys");
	else if (err == -ETIMEDOUT)
		NL_SET_ERR_MSG(info->extack,
			       "no response to the key supply notification in time");
	else if (err == -EINTR)
		NL_SET_ERR_MSG(info->extack, "interrupted");
	else if (err)
		NL_SET_ERR_MSG(info->extack,
			       "the slave SAE's KM could not supply the keys");
	if (err)
		goto out;
	err = -EMSGSIZE;
	hdr = qkdn_put_hdr(msg, info->snd_portid, info->snd_seq, 0,
			   QKDN_CMD_KEY_GET);
	if (!hdr || nla_put_u32(msg, QKDN_A_SESSION_ID, sup->session))
		goto out;
	for (i = 0; i < number; i++) {
		struct nlattr *nest;

		if (!sup->acked[i])
			continue;
		nest = nla_nest_start(msg, QKDN_A_KEY);
		if (!nest ||
		    nla_put(msg, QKDN_A_KEY_ID, QKDN_KEY_ID_LEN,
			    sup->ids + i * QKDN_KEY_ID_LEN) ||
		    nla_put(msg, QKDN_A_KEY_DATA, kb, sup->keys + i * kb))
			goto out;
		nla_nest_end(msg, nest);
	}
	genlmsg_end(msg, hdr);
	link = qkdn_link_find(qn, sup->link_id);
	if (link)
		link->stats.keys_supplied += taken;
	qkdn_nl_msg(qn, QKDN_MSG_SESSION_KEY_RESPONSE, QKDN_MSG_DIR_SENT, "sae",
		    master, NULL, NULL, peer, taken, 0, NULL);
	err = 0;
out:
	qkdn_supply_free(sup);
	return err;
}

/* "response to key supply notification", to the master's KM. */
static void qkdn_supply_done(struct qkdn_net *qn, struct qkdn_supply *sup,
			     int err)
{
	struct qkdn_link *link = qkdn_link_find(qn, sup->link_id);
	struct qkdn_kx_supply_done *d;
	struct qkdn_frame *f;
	u32 i, n = 0;

	for (i = 0; i < sup->count; i++)
		n += sup->acked[i];
	if (link) {
		f = qkdn_kx_alloc(QKDN_KX_SUPPLY_DONE,
				  sizeof(*d) + n * QKDN_KEY_ID_LEN, 0);
		if (f) {
			d = (struct qkdn_kx_supply_done *)qkdn_kx_body(f);
			memcpy(d->supply_id, sup->id, QKDN_RELAY_ID_LEN);
			d->session = cpu_to_le32(sup->session);
			d->err = cpu_to_le32(err);
			d->count = cpu_to_le16(n);
			for (i = 0, n = 0; i < sup->count; i++)
				if (sup->acked[i])
					memcpy(d->ids[n++],
					       sup->ids + i * QKDN_KEY_ID_LEN,
					       QKDN_KEY_ID_LEN);
			qkdn_kx_queue(link, f);
			qkdn_nl_msg(qn, QKDN_MSG_KEY_SUPPLY_NOTIFICATION_RESPONSE,
				    QKDN_MSG_DIR_SENT, "km", link->peer, NULL,
				    link->peer, NULL, n, err, NULL);
		}
	}
	qkdn_supply_free(sup);
}

/* I.2 11: the keys go to the slave SAE's socket, erased when freed. */
static int qkdn_supply_push(struct qkdn_net *qn, struct qkdn_supply *sup,
			    struct qkdn_session *s)
{
	struct qkdn_listener *l = qkdn_listener_find(qn, s->slave);
	u32 kb = sup->key_bytes, i;
	struct sk_buff *msg;
	void *hdr;

	if (!l)
		return -ECONNREFUSED;
	msg = qkdn_key_msg_new(nla_total_size(sizeof(u32)) +
			       qkdn_key_msg_size(sup->count, kb));
	if (!msg)
		return -ENOMEM;
	hdr = qkdn_put_hdr(msg, 0, 0, 0, QKDN_CMD_KEY_SUPPLY);
	if (!hdr || nla_put_u32(msg, QKDN_A_SESSION_ID, s->id))
		goto nospace;
	for (i = 0; i < sup->count; i++) {
		struct nlattr *nest = nla_nest_start(msg, QKDN_A_KEY);

		if (!nest ||
		    nla_put(msg, QKDN_A_KEY_ID, QKDN_KEY_ID_LEN,
			    sup->ids + i * QKDN_KEY_ID_LEN) ||
		    nla_put(msg, QKDN_A_KEY_DATA, kb, sup->keys + i * kb))
			goto nospace;
		nla_nest_end(msg, nest);
	}
	genlmsg_end(msg, hdr);
	qkdn_key_msg_fill(msg);
	if (genlmsg_unicast(qn->net, msg, l->portid))
		return -ECONNREFUSED;
	qkdn_nl_msg(qn, QKDN_MSG_PROACTIVE_KEY_SUPPLY, QKDN_MSG_DIR_SENT, "sae",
		    s->slave, NULL, s->peer, NULL, sup->count, 0, NULL);
	return 0;
nospace:
	nlmsg_free(msg);
	return -EMSGSIZE;
}

int qkdn_supply_validate(u8 type, const u8 *body, u32 len,
			 struct netlink_ext_ack *extack)
{
	const struct qkdn_kx_supply_done *d = (const void *)body;
	u32 n;

	if (type == QKDN_KX_SUPPLY) {
		const struct qkdn_kx_supply *b = (const void *)body;
		u32 kb;

		if (len < sizeof(*b))
			goto bad_len;
		n = le16_to_cpu(b->count);
		kb = le16_to_cpu(b->key_bytes);
		if (!n || n > QKDN_KEYS_PER_REQUEST ||
		    len != sizeof(*b) + n * QKDN_KEY_ID_LEN)
			goto bad_len;
		if (kb < QKDN_KEY_SIZE_MIN / 8 || kb > QKDN_KEY_SIZE_MAX / 8 ||
		    !b->session || qkdn_ids_repeat(&b->ids[0][0], n) ||
		    !memchr(b->master, 0, QKDN_ID_MAX) ||
		    !memchr(b->slave, 0, QKDN_ID_MAX) ||
		    !qkdn_id_valid(b->master) || !qkdn_id_valid(b->slave)) {
			NL_SET_ERR_MSG(extack, "Kx key supply notification malformed");
			return -EINVAL;
		}
		return 0;
	}
	if (len < sizeof(*d))
		goto bad_len;
	n = le16_to_cpu(d->count);
	if (n > QKDN_KEYS_PER_REQUEST || len != sizeof(*d) + n * QKDN_KEY_ID_LEN)
		goto bad_len;
	if (le32_to_cpu(d->err) > QKDN_ERRNO_MAX) {
		NL_SET_ERR_MSG(extack, "Kx key supply response malformed");
		return -EINVAL;
	}
	return 0;
bad_len:
	NL_SET_ERR_MSG(extack, "Kx key supply frame length does not match its content");
	return -EINVAL;
}

/* I.2 10-11: the "key supply notification" arrives at the slave's KM. */
static int qkdn_supply_rx(struct qkdn_link *link,
			  const struct qkdn_kx_supply *b,
			  struct netlink_ext_ack *extack)
{
	u32 n = le16_to_cpu(b->count), kb = le16_to_cpu(b->key_bytes);
	struct qkdn_net *qn = link->qn;
	struct qkdn_session *s;
	struct qkdn_supply *sup;
	u64 seq;
	u32 off;
	int err;

	qkdn_store_position(&link->theirs, &seq, &off);
	if (seq != le64_to_cpu(b->block_seq) || off != le32_to_cpu(b->offset) ||
	    link->theirs.bytes < (u64)n * kb) {
		NL_SET_ERR_MSG(extack, "Kx key supply does not match the pool");
		return -EPROTO;
	}
	sup = qkdn_supply_new(n, kb);
	if (!sup)
		return -ENOMEM;
	memcpy(sup->id, b->supply_id, QKDN_RELAY_ID_LEN);
	memcpy(sup->ids, b->ids, n * QKDN_KEY_ID_LEN);
	sup->session = le32_to_cpu(b->session);
	sup->role = QKDN_SESS_DST;
	sup->link_id = link->id;
	sup->deadline = jiffies + msecs_to_jiffies(QKDN_SAE_ANSWER_MS);
	list_add_tail(&sup->node, &qn->supplies);
	qkdn_store_take(&link->theirs, sup->keys, n * kb);
	link->stats.keys_received += n;
	qkdn_nl_msg(qn, QKDN_MSG_KEY_SUPPLY_NOTIFICATION, QKDN_MSG_DIR_RECEIVED,
		    "km", link->peer, NULL, link->peer, NULL, n, 0, NULL);

	s = qkdn_session_find(qn, sup->session, QKDN_SESS_DST);
	if (!s || s->state != QKDN_SESS_ACTIVE || strcmp(s->master, b->master) ||
	    strcmp(s->slave, b->slave) || strcmp(s->peer, link->peer))
		err = ENOENT;
	else
		err = -qkdn_supply_push(qn, sup, s);
	if (s)
		s->used = jiffies;
	if (err) {
		qkdn_supply_done(qn, sup, err);
		return 0;
	}
	qkdn_session_arm(qn);
	return 0;
}

/* I.2 13: the response reaches the master's KM. */
static void qkdn_supply_done_rx(struct qkdn_link *link,
				const struct qkdn_kx_supply_done *d)
{
	struct qkdn_net *qn = link->qn;
	struct qkdn_supply *sup;
	u32 i, j, n = le16_to_cpu(d->count);

	sup = qkdn_supply_find(qn, d->supply_id, QKDN_SESS_SRC);
	if (!sup || sup->link_id != link->id || sup->state != QKDN_SUP_WAIT)
		return;
	for (i = 0; i < n; i++)
		for (j = 0; j < sup->count; j++)
			if (!memcmp(d->ids[i], sup->ids + j * QKDN_KEY_ID_LEN,
				    QKDN_KEY_ID_LEN))
				sup->acked[j] = 1;
	sup->err = le32_to_cpu(d->err);
	sup->state = QKDN_SUP_DONE;
	qkdn_nl_msg(qn, QKDN_MSG_KEY_SUPPLY_NOTIFICATION_RESPONSE,
		    QKDN_MSG_DIR_RECEIVED, "km", link->peer, NULL, NULL,
		    link->peer, n, sup->err, NULL);
	wake_up_all(&qn->session_wq);
}

int qkdn_supply_kx_rx(struct qkdn_link *link, u8 type, const u8 *body,
		      struct netlink_ext_ack *extack)
{
	if (type == QKDN_KX_SUPPLY)
		return qkdn_supply_rx(link, (const void *)body, extack);
	qkdn_supply_done_rx(link, (const void *)body);
	return 0;
}

/* I.2 12: "response to proactive key supply" from the slave SAE. */
int qkdn_nl_key_supply(struct sk_buff *skb, struct genl_info *info)
{
	struct qkdn_net *qn = qkdn_info_qn(info);
	struct nlattr **a = info->attrs;
	struct qkdn_supply *sup = NULL, *it;
	struct nlattr *tb[QKDN_A_KEY_MAX + 1];
	struct qkdn_session *s;
	struct nlattr *attr;
	u32 session, i;
	bool found;
	int rem, err;

	if (qkdn_nl_need(info, QKDN_A_SESSION_ID))
		return -EINVAL;
	session = nla_get_u32(a[QKDN_A_SESSION_ID]);
	mutex_lock(&qn->lock);
	err = -ENOENT;
	s = qkdn_session_find(qn, session, QKDN_SESS_DST);
	if (!s) {
		NL_SET_ERR_MSG_ATTR(info->extack, a[QKDN_A_SESSION_ID],
				    "no such session");
		goto out;
	}
	err = -EACCES;
	if (!qkdn_nl_listener(qn, info, s->slave))
		goto out;
	/* The key IDs name the supply they answer: all from one. */
	nlmsg_for_each_attr(attr, info->nlhdr, GENL_HDRLEN, rem) {
		if (nla_type(attr) != QKDN_A_KEY)
			continue;
		err = nla_parse_nested(tb, QKDN_A_KEY_MAX, attr,
				       qkdn_key_policy, info->extack);
		if (err)
			goto out_undo;
		err = -EINVAL;
		if (!tb[QKDN_A_KEY_ID]) {
			NL_SET_ERR_MSG_ATTR(info->extack, attr,
					    "key without key ID");
			goto out_undo;
		}
		found = false;
		list_for_each_entry(it, &qn->supplies, node) {
			if (it->role != QKDN_SESS_DST || it->session != session ||
			    (sup && it != sup))
				continue;
			for (i = 0; i < it->count && !found; i++) {
				if (!memcmp(it->ids + i * QKDN_KEY_ID_LEN,
					    nla_data(tb[QKDN_A_KEY_ID]),
					    QKDN_KEY_ID_LEN)) {
					sup = it;
					sup->acked[i] = 1;
					found = true;
				}
			}
			if (found)
				break;
		}
		if (!found) {
			NL_SET_ERR_MSG_ATTR(info->extack, attr,
					    "key ID not supplied in this session");
			err = -ENOENT;
			goto out_undo;
		}
	}
	if (!sup) {
		/* No key ID: the SAE takes none of the oldest supply. */
		list_for_each_entry(it, &qn->supplies, node) {
			if (it->role == QKDN_SESS_DST && it->session == session) {
				sup = it;
				break;
			}
		}
	}
	err = -ENOENT;
	if (!sup) {
		NL_SET_ERR_MSG(info->extack, "no key supply awaits an answer");
		goto out;
	}
	qkdn_nl_msg(qn, QKDN_MSG_PROACTIVE_KEY_SUPPLY_RESPONSE,
		    QKDN_MSG_DIR_RECEIVED, "sae", s->slave, NULL, s->peer, NULL,
		    0, 0, NULL);
	qkdn_supply_done(qn, sup, 0);
	err = 0;
	goto out;
out_undo:
	if (sup)
		memset(sup->acked, 0, sup->count);
out:
	mutex_unlock(&qn->lock);
	return err;
}

/* A key request with this session ID waits for its supply. */
static bool qkdn_session_supplying(struct qkdn_net *qn,
				   const struct qkdn_session *s)
{
	struct qkdn_supply *sup;

	list_for_each_entry(sup, &qn->supplies, node)
		if (sup->session == s->id && sup->role == s->role)
			return true;
	return false;
}

/* Answers the listening SAE owes, overdue; sessions unused for long. */
void qkdn_session_timeouts(struct qkdn_net *qn)
{
	struct qkdn_session *s, *stmp;
	struct qkdn_supply *sup, *tmp;

	list_for_each_entry_safe(s, stmp, &qn->sessions, node) {
		if (s->role == QKDN_SESS_DST && s->state == QKDN_SESS_PENDING &&
		    time_after(jiffies, s->deadline))
			qkdn_session_answer(qn, s, ETIMEDOUT);
		else if (s->state == QKDN_SESS_ACTIVE &&
			 time_after(jiffies, s->used +
				    msecs_to_jiffies(QKDN_SESSION_IDLE_MS)) &&
			 !qkdn_session_supplying(qn, s))
			qkdn_session_free(qn, s);
	}
	list_for_each_entry_safe(sup, tmp, &qn->supplies, node)
		if (sup->role == QKDN_SESS_DST &&
		    time_after(jiffies, sup->deadline))
			qkdn_supply_done(qn, sup, ETIMEDOUT);
}

bool qkdn_session_busy(struct qkdn_net *qn)
{
	return !list_empty(&qn->sessions) || !list_empty(&qn->supplies);
}

/*
 * A socket closed: the SAE it listened for no longer listens, and its
 * sessions end (a notification it did not answer is refused).
 */
void qkdn_session_release(struct qkdn_net *qn, u32 portid)
{
	struct qkdn_supply *sup, *sup_tmp;
	struct qkdn_listener *l, *tmp;
	struct qkdn_session *s, *stmp;

	list_for_each_entry_safe(l, tmp, &qn->listeners, node) {
		if (l->portid != portid)
			continue;
		list_for_each_entry_safe(s, stmp, &qn->sessions, node) {
			if (s->role != QKDN_SESS_DST || strcmp(s->slave, l->sae))
				continue;
			/* Supplies it did not answer: the slave took none. */
			list_for_each_entry_safe(sup, sup_tmp, &qn->supplies,
						 node)
				if (sup->role == QKDN_SESS_DST &&
				    sup->session == s->id)
					qkdn_supply_done(qn, sup, ECONNREFUSED);
			if (s->state == QKDN_SESS_PENDING)
				qkdn_session_answer(qn, s, ECONNREFUSED);
			else
				qkdn_session_free(qn, s);
		}
		list_del(&l->node);
		kfree(l);
	}
}
