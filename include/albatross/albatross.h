/* SPDX-License-Identifier: ISC */
/**
 * @file albatross.h
 * @brief libalbatross: deploy and supervise Solo5 unikernels. Includes every
 * public header.
 */
#ifndef ALBATROSS_ALBATROSS_H
#define ALBATROSS_ALBATROSS_H

#include <albatross/console.h>
#include <albatross/ctx.h>
#include <albatross/log.h>
#include <albatross/stats.h>
#include <albatross/name.h>
#include <albatross/policy.h>
#include <albatross/unikernel.h>
#include <albatross/loop.h>
#include <albatross/manifest.h>
#include <albatross/tree.h>
#include <albatross/vmm.h>
#include <albatross/wire.h>
#include <albatross/x509.h>
#include <albatross/tls.h>
#include <albatross/client.h>

#endif
