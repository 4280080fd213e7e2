/* SPDX-License-Identifier: ISC */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <albatross/manifest.h>

#include "solo5-image.h"

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Writes one note (owner "Solo5") at p; returns its size, padded to 8. */
static size_t note(uint8_t *p, uint32_t type, const uint8_t *desc, uint32_t descsz)
{
	put32(p, 6);
	put32(p + 4, descsz);
	put32(p + 8, type);
	memcpy(p + 12, "Solo5\0\0\0", 8);
	memcpy(p + 20, desc, descsz);
	return (20 + descsz + 7) & ~(size_t)7;
}

int test_solo5_image(int target, uint32_t abi, const struct test_device *devices, size_t n,
		     int flags, uint8_t **ret, size_t *ret_len)
{
	uint32_t entries = (uint32_t)n + 1;
	uint32_t mft_size = 12 + 104 * entries;
	size_t size = sizeof(Elf64_Ehdr) + 2 * sizeof(Elf64_Phdr) + 40 + 24 + mft_size + 8;
	uint8_t *img = calloc(1, size);
	if (!img)
		return -ENOMEM;

	Elf64_Ehdr eh = {0};
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = (flags & TEST_IMAGE_AARCH64) ? EM_AARCH64 : EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_phoff = sizeof(Elf64_Ehdr);
	eh.e_ehsize = sizeof(Elf64_Ehdr);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = 2;
	memcpy(img, &eh, sizeof(eh)); /* the test machines are little-endian */

	size_t off = sizeof(Elf64_Ehdr) + 2 * sizeof(Elf64_Phdr);
	Elf64_Phdr ph[2] = {{0}};

	uint8_t abi_desc[16] = {0};
	put32(abi_desc, (uint32_t)target);
	put32(abi_desc + 4, abi);
	ph[0].p_type = (flags & TEST_IMAGE_NO_ABI) ? PT_NULL : PT_NOTE;
	ph[0].p_offset = off;
	ph[0].p_filesz = note(img + off, 0x31494241u, abi_desc, sizeof(abi_desc));
	ph[0].p_align = 4;
	off += ph[0].p_filesz;

	uint8_t *mft = calloc(1, mft_size);
	if (!mft) {
		free(img);
		return -ENOMEM;
	}
	put32(mft + 4, 1);
	put32(mft + 8, entries);
	put32(mft + 12 + 68, 0x40000000u);
	for (size_t i = 0; i < n; i++) {
		uint8_t *e = mft + 12 + 104 * (i + 1);
		strncpy((char *)e, devices[i].name, 67);
		put32(e + 68, devices[i].type == ALB_DEVICE_NET ? 2 : 1);
	}
	ph[1].p_type = (flags & TEST_IMAGE_NO_MANIFEST) ? PT_NULL : PT_NOTE;
	ph[1].p_offset = off;
	ph[1].p_filesz = note(img + off, 0x3154464du, mft, mft_size);
	ph[1].p_align = 8;
	off += ph[1].p_filesz;
	free(mft);
	memcpy(img + sizeof(Elf64_Ehdr), ph, sizeof(ph));
	*ret = img;
	*ret_len = off;
	return 0;
}

int test_solo5_image_file(const char *path, int target, uint32_t abi,
			  const struct test_device *devices, size_t n, int flags)
{
	uint8_t *img;
	size_t len;
	int r = test_solo5_image(target, abi, devices, n, flags, &img, &len);
	if (r < 0)
		return r;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		r = -errno;
		free(img);
		return r;
	}
	r = write(fd, img, len) == (ssize_t)len ? 0 : -EIO;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	free(img);
	return r;
}
