/* SPDX-License-Identifier: ISC */
/* Solo5 ELF notes (docs/solo5.md says what this follows). */
#include <elf.h>
#include <inttypes.h>

#include <albatross/manifest.h>

#include "ctx-private.h"
#include "manifest-private.h"
#include "unikernel-private.h"

#define NOTE_OWNER	  "Solo5"
#define NOTE_TYPE_ABI	  0x31494241u /* "ABI1" */
#define NOTE_TYPE_MFT	  0x3154464du /* "MFT1" */
#define MFT_VERSION	  1u
#define MFT_ENTRIES_MAX	  64u
#define MFT_ENTRY_SIZE	  104u
#define MFT_NAME_SIZE	  68u
#define MFT_TYPE_BLOCK	  1u
#define MFT_TYPE_NET	  2u
#define MFT_TYPE_RESERVED 0x40000000u

struct device {
	char name[MFT_NAME_SIZE];
	int type;
};

struct alb_manifest {
	int target;
	uint32_t abi_version;
	uint32_t n_devices;
	struct device devices[MFT_ENTRIES_MAX - 1];
};

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* Does [off, off + len) lie inside [0, size)? */
static bool inside(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

static int parse_abi(alb_ctx *ctx, alb_manifest *m, const uint8_t *desc, uint32_t descsz)
{
	if (descsz != 16)
		return alb_error(ctx, EBADMSG, "the Solo5 ABI note has %u bytes, not 16", descsz);
	uint32_t target = le32(desc), version = le32(desc + 4);
	if (target < ALB_SOLO5_HVT || target > ALB_SOLO5_XEN)
		return alb_error(ctx, EBADMSG, "unknown Solo5 target %u", target);
	m->target = (int)target;
	m->abi_version = version;
	return 0;
}

static int parse_manifest(alb_ctx *ctx, alb_manifest *m, const uint8_t *desc, uint32_t descsz)
{
	/* 4 bytes of padding, then version and entry count. */
	if (descsz < 12)
		return alb_error(ctx, EBADMSG, "the Solo5 manifest note is too short (%u bytes)",
				 descsz);
	uint32_t version = le32(desc + 4), entries = le32(desc + 8);
	if (version != MFT_VERSION)
		return alb_error(ctx, EBADMSG, "unsupported Solo5 manifest version %u", version);
	if (entries < 1 || entries > MFT_ENTRIES_MAX)
		return alb_error(ctx, EBADMSG,
				 "the Solo5 manifest has %u entries (1 to %u allowed)", entries,
				 MFT_ENTRIES_MAX);
	if (descsz != 12 + MFT_ENTRY_SIZE * entries)
		return alb_error(ctx, EBADMSG, "the Solo5 manifest note has %u bytes, not %u",
				 descsz, 12 + MFT_ENTRY_SIZE * entries);
	const uint8_t *e = desc + 12;
	if (le32(e + MFT_NAME_SIZE) != MFT_TYPE_RESERVED || e[0] != '\0')
		return alb_error(ctx, EBADMSG,
				 "the first entry of the Solo5 manifest is not the "
				 "reserved one");
	m->n_devices = 0;
	for (uint32_t i = 1; i < entries; i++) {
		e = desc + 12 + (size_t)MFT_ENTRY_SIZE * i;
		if (e[MFT_NAME_SIZE - 1] != '\0')
			return alb_error(ctx, EBADMSG,
					 "device %u of the Solo5 manifest has no "
					 "terminating NUL",
					 i);
		struct device *d = &m->devices[m->n_devices];
		memcpy(d->name, e, MFT_NAME_SIZE);
		int r = alb_device_name_validate(ctx, d->name);
		if (r < 0)
			return alb_error_prefix(ctx, -EBADMSG, "device %u of the Solo5 manifest",
						i);
		uint32_t type = le32(e + MFT_NAME_SIZE);
		if (type == MFT_TYPE_BLOCK)
			d->type = ALB_DEVICE_BLOCK;
		else if (type == MFT_TYPE_NET)
			d->type = ALB_DEVICE_NET;
		else
			return alb_error(ctx, EBADMSG,
					 "device '%s' of the Solo5 manifest has the "
					 "unknown type 0x%x",
					 d->name, type);
		for (uint32_t k = 0; k < m->n_devices; k++)
			if (streq(m->devices[k].name, d->name))
				return alb_error(ctx, EBADMSG,
						 "the Solo5 manifest declares '%s' twice", d->name);
		m->n_devices++;
	}
	return 0;
}

_Static_assert(sizeof(Elf64_Ehdr) == ALB_MANIFEST_HEADER_SIZE, "the ELF64 header");

int alb_manifest_check_header(alb_ctx *ctx, const uint8_t *head, size_t len)
{
	if (!head || len < sizeof(Elf64_Ehdr) || memcmp(head, ELFMAG, SELFMAG) != 0)
		return alb_error(ctx, EBADMSG, "the image is not an ELF file");
	if (head[EI_CLASS] != ELFCLASS64 || head[EI_DATA] != ELFDATA2LSB)
		return alb_error(ctx, EBADMSG, "the image is not a little-endian ELF64 file");
	uint16_t machine = le16(head + offsetof(Elf64_Ehdr, e_machine));
	if (machine != EM_X86_64 && machine != EM_AARCH64)
		return alb_error(ctx, EBADMSG,
				 "the image is for ELF machine %u, not x86_64 or "
				 "aarch64",
				 machine);
	return 0;
}

ALB_EXPORT int alb_manifest_read(alb_ctx *ctx, const uint8_t *image, uint64_t size,
				 alb_manifest **ret_manifest)
{
	if (!image || !ret_manifest)
		return alb_error(ctx, EINVAL, "no image");
	int r = alb_manifest_check_header(
	    ctx, image, size < ALB_MANIFEST_HEADER_SIZE ? (size_t)size : ALB_MANIFEST_HEADER_SIZE);
	if (r < 0)
		return r;
	uint64_t phoff = le64(image + offsetof(Elf64_Ehdr, e_phoff));
	uint16_t phentsize = le16(image + offsetof(Elf64_Ehdr, e_phentsize));
	uint16_t phnum = le16(image + offsetof(Elf64_Ehdr, e_phnum));
	if (phnum == 0 || phentsize < sizeof(Elf64_Phdr) ||
	    !inside(phoff, (uint64_t)phentsize * phnum, size))
		return alb_error(ctx, EBADMSG, "the image's program headers are out of bounds");

	_cleanup_free_ alb_manifest *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	bool have_abi = false, have_mft = false;
	for (uint16_t i = 0; i < phnum; i++) {
		const uint8_t *ph = image + phoff + (uint64_t)phentsize * i;
		if (le32(ph + offsetof(Elf64_Phdr, p_type)) != PT_NOTE)
			continue;
		uint64_t off = le64(ph + offsetof(Elf64_Phdr, p_offset));
		uint64_t filesz = le64(ph + offsetof(Elf64_Phdr, p_filesz));
		if (!inside(off, filesz, size))
			return alb_error(ctx, EBADMSG,
					 "a note segment of the image is out of bounds");
		/* Like the tender, read only the first note of each PT_NOTE segment. */
		if (filesz < 12)
			continue;
		const uint8_t *n = image + off;
		uint32_t namesz = le32(n), descsz = le32(n + 4), type = le32(n + 8);
		uint64_t name_padded = ((uint64_t)namesz + 3) & ~UINT64_C(3);
		if (!inside(12, name_padded + descsz, filesz))
			return alb_error(ctx, EBADMSG, "a note of the image is out of bounds");
		if (namesz != sizeof(NOTE_OWNER) || memcmp(n + 12, NOTE_OWNER, sizeof(NOTE_OWNER)))
			continue;
		const uint8_t *desc = n + 12 + name_padded;
		if (type == NOTE_TYPE_ABI && !have_abi) {
			if ((r = parse_abi(ctx, m, desc, descsz)) < 0)
				return r;
			have_abi = true;
		} else if (type == NOTE_TYPE_MFT && !have_mft) {
			if ((r = parse_manifest(ctx, m, desc, descsz)) < 0)
				return r;
			have_mft = true;
		}
	}
	if (!have_abi)
		return alb_error(ctx, EBADMSG,
				 "the image has no Solo5 ABI note: not a Solo5 "
				 "unikernel");
	if (!have_mft)
		return alb_error(ctx, EBADMSG, "the image has no Solo5 manifest note");
	*ret_manifest = TAKE_PTR(m);
	return 0;
}

ALB_EXPORT alb_manifest *alb_manifest_free(alb_manifest *manifest)
{
	free(manifest);
	return NULL;
}

ALB_EXPORT int alb_manifest_get_target(const alb_manifest *manifest)
{
	return manifest ? manifest->target : -EINVAL;
}

ALB_EXPORT const char *alb_manifest_get_target_name(const alb_manifest *manifest)
{
	static const char *const names[] = {"?", "hvt", "spt", "virtio", "muen", "genode", "xen"};
	if (!manifest || manifest->target < 1 || manifest->target > ALB_SOLO5_XEN)
		return "?";
	return names[manifest->target];
}

ALB_EXPORT uint32_t alb_manifest_get_abi_version(const alb_manifest *manifest)
{
	return manifest ? manifest->abi_version : 0;
}

ALB_EXPORT uint32_t alb_manifest_get_device_count(const alb_manifest *manifest)
{
	return manifest ? manifest->n_devices : 0;
}

ALB_EXPORT const char *alb_manifest_get_device_name(const alb_manifest *manifest, uint32_t index)
{
	return manifest && index < manifest->n_devices ? manifest->devices[index].name : NULL;
}

ALB_EXPORT int alb_manifest_get_device_type(const alb_manifest *manifest, uint32_t index)
{
	return manifest && index < manifest->n_devices ? manifest->devices[index].type : -EINVAL;
}

static const struct device *find_device(const alb_manifest *m, const char *name)
{
	for (uint32_t i = 0; i < m->n_devices; i++)
		if (streq(m->devices[i].name, name))
			return &m->devices[i];
	return NULL;
}

ALB_EXPORT int alb_manifest_check_config(alb_ctx *ctx, const alb_manifest *manifest,
					 const alb_unikernel_config *config)
{
	if (!manifest || !config)
		return alb_error(ctx, EINVAL, "no manifest or configuration");
	static const int tender_target[] = {
	    [ALB_TENDER_HVT] = ALB_SOLO5_HVT, [ALB_TENDER_SPT] = ALB_SOLO5_SPT};
	if (manifest->target != tender_target[config->tender])
		return alb_error(ctx, EINVAL, "the image is built for Solo5 target '%s', not '%s'",
				 alb_manifest_get_target_name(manifest),
				 config->tender == ALB_TENDER_HVT ? "hvt" : "spt");
	for (uint32_t i = 0; i < manifest->n_devices; i++) {
		const struct device *d = &manifest->devices[i];
		bool found = false, other = false;
		for (uint32_t k = 0; k < config->n_nets; k++)
			if (streq(config->nets[k].name, d->name))
				*(d->type == ALB_DEVICE_NET ? &found : &other) = true;
		for (uint32_t k = 0; k < config->n_blocks; k++)
			if (streq(config->blocks[k].name, d->name))
				*(d->type == ALB_DEVICE_BLOCK ? &found : &other) = true;
		const char *kind = d->type == ALB_DEVICE_NET ? "network" : "block";
		if (other)
			return alb_error(ctx, EINVAL,
					 "the image declares '%s' as a %s device, but it is "
					 "configured as a %s device",
					 d->name, kind,
					 d->type == ALB_DEVICE_NET ? "block" : "network");
		if (!found)
			return alb_error(ctx, EINVAL,
					 "the image declares the %s device '%s', but it is not "
					 "configured",
					 kind, d->name);
	}
	for (uint32_t k = 0; k < config->n_nets; k++)
		if (!find_device(manifest, config->nets[k].name))
			return alb_error(
			    ctx, EINVAL,
			    "the network device '%s' is configured, but the image does "
			    "not declare it",
			    config->nets[k].name);
	for (uint32_t k = 0; k < config->n_blocks; k++)
		if (!find_device(manifest, config->blocks[k].name))
			return alb_error(ctx, EINVAL,
					 "the block device '%s' is configured, but the image does "
					 "not declare it",
					 config->blocks[k].name);
	return 0;
}
