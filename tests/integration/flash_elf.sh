# link_flash_elf DIR: DIR/app.elf from DIR/text.bin and DIR/data.bin, as a
# firmware linker writes it: .text in flash at 0x08000000, .data running
# from RAM at 0x20000000 but stored in flash right after .text (LMA != VMA),
# .bss not in the file. Sourced by test_formats.sh and tests/fuzz/seeds.sh.
link_flash_elf() (
    cd "$1"
    objcopy -I binary -O elf32-i386 -B i386 --rename-section .data=.text,alloc,load,contents \
        text.bin text.o
    objcopy -I binary -O elf32-i386 -B i386 data.bin data.o
    cat >link.ld <<'LD'
SECTIONS {
  .text 0x08000000 : { text.o(.text) }
  .data 0x20000000 : AT(0x08000000 + SIZEOF(.text)) { data.o(.data) }
  .bss : { . += 0x200; }
}
LD
    ld -m elf_i386 -T link.ld -e 0x08000000 --build-id=none -z noseparate-code -o app.elf \
        text.o data.o
)
