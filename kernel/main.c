// SPDX-License-Identifier: GPL-2.0
/*
 * qkdn: key management for quantum key distribution networks.
 *
 * Module init and exit only: sub-systems come up in order and go down in
 * reverse.
 */

#include <linux/module.h>
#include <linux/workqueue.h>

#include "qkdn.h"

struct workqueue_struct *qkdn_wq;

static int __init qkdn_init(void)
{
	int err;

	qkdn_wq = alloc_workqueue("qkdn", WQ_UNBOUND | WQ_MEM_RECLAIM, 0);
	if (!qkdn_wq)
		return -ENOMEM;

	err = qkdn_netns_init();
	if (err)
		goto err_wq;

	err = qkdn_nl_init();
	if (err)
		goto err_netns;

	err = qkdn_keytype_init();
	if (err)
		goto err_nl;

	pr_info("key manager for QKD networks (ITU-T Q.4160) loaded\n");
	return 0;

err_nl:
	qkdn_nl_exit();
err_netns:
	qkdn_netns_exit();
err_wq:
	destroy_workqueue(qkdn_wq);
	return err;
}

static void __exit qkdn_exit(void)
{
	qkdn_keytype_exit();
	qkdn_nl_exit();
	qkdn_netns_exit();
	destroy_workqueue(qkdn_wq);
}

module_init(qkdn_init);
module_exit(qkdn_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Key management for quantum key distribution networks");
MODULE_ALIAS_GENL_FAMILY(QKDN_GENL_NAME);
