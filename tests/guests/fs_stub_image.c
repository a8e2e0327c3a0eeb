/* Test-only: links the file-system tests' image into a guest as the disk of libos/disk_stub.c, the stand-in used until the block ring driver lands. */

/* The build passes the image's path; STUB_READ_ONLY makes the disk read-only. */
__asm__(".section .rodata.stub_disk,\"a\"\n"
        ".balign 512\n"
        ".globl ilwaco_stub_disk_image\n"
        "ilwaco_stub_disk_image:\n"
        ".incbin \"" STUB_IMAGE "\"\n"
        ".globl ilwaco_stub_disk_image_end\n"
        "ilwaco_stub_disk_image_end:\n"
        ".previous\n");

#ifdef STUB_READ_ONLY
extern const int ilwaco_stub_disk_read_only;
const int ilwaco_stub_disk_read_only = 1;
#endif
