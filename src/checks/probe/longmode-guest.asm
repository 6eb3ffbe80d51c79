; kvmkit's acceleration probe guest: a 512-byte boot sector that proves 64-bit
; (long mode) code runs, because a 16-bit guest is not enough: on a paravirtual
; KVM such as kvm_pvm, SeaBIOS and real-mode code run while 64-bit guests hang.
;
; Stages, each announced on the serial port (COM1) as it is reached:
;   real-mode  the BIOS handed over (any KVM, even kvm_pvm, gets this far)
;   long-mode  PAE, an identity-mapped 2 MiB page, EFER.LME, CR0.PG|PE, then EFER is
;              read back from 64-bit code (LMA, bit 10, is only set in long mode)
;   exception  an int3 is delivered through a 64-bit IDT gate and returns with iretq:
;              every real kernel needs this, and here kvm_pvm never delivers it
;   done       then QEMU's isa-debug-exit device (port 0xf4) ends QEMU with status
;              (0x21 << 1) | 1 = 67.
;
; Assemble: nasm -f bin -o guest.img longmode-guest.asm
; The bytes are embedded in guest.ts; test/checks/probe/guest.test.ts checks they match.
bits 16
org 0x7c00

; Writes the NUL-terminated string at si (rsi in 64-bit code) to COM1. One source for both
; modes: where it is expanded, `bits` decides the encoding (operand-size prefix, si or rsi).
%macro PUTS 0
    mov dx, 0x3f8
%%next:
    lodsb
    test al, al
    jz %%done
    out dx, al
    jmp %%next
%%done:
    ret
%endmacro

start:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7c00
    mov si, msg_real
    call puts16
    ; page tables at 0x1000 (PML4), 0x2000 (PDPT), 0x3000 (PD), zeroed first
    mov di, 0x1000
    mov cx, 0x1800
    xor ax, ax
    rep stosw
    mov dword [0x1000], 0x2003
    mov dword [0x2000], 0x3003
    mov dword [0x3000], 0x0083      ; 2 MiB page at 0, present + writable
    lgdt [gdt_desc]
    mov eax, cr4
    or eax, 1 << 5                  ; PAE
    mov cr4, eax
    mov eax, 0x1000
    mov cr3, eax
    mov ecx, 0xc0000080             ; EFER
    rdmsr
    or eax, 1 << 8                  ; LME
    wrmsr
    mov eax, cr0
    or eax, 0x80000001              ; PG | PE
    mov cr0, eax
    jmp 0x08:long_mode

puts16:
    PUTS

bits 64
long_mode:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov rsp, 0x7c00
    mov rsi, msg_long
    call puts64
    mov ecx, 0xc0000080
    rdmsr
    shl rdx, 32
    or rax, rdx                     ; a 64-bit value built in a 64-bit register
    mov rbx, rax
    mov ecx, 16
.hex:
    rol rbx, 4
    mov al, bl
    and al, 0x0f
    add al, '0'
    cmp al, '9'
    jbe .digit
    add al, 7
.digit:
    mov dx, 0x3f8
    out dx, al
    loop .hex
    mov rsi, msg_end
    call puts64
    lidt [idt_desc]
    int3                            ; the handler prints the exception stage
    mov rsi, msg_done
    call puts64
    mov al, 0x21
    out 0xf4, al                    ; isa-debug-exit
.halt:
    hlt
    jmp .halt

puts64:
    PUTS

breakpoint:
    mov rsi, msg_exc
    call puts64
    iretq

align 8
gdt:
    dq 0
    dq 0x00af9a000000ffff           ; 64-bit code
    dq 0x00cf92000000ffff           ; data
gdt_desc:
    dw gdt_desc - gdt - 1
    dd gdt

align 16
idt:                                ; vectors 0-3; only int3 (vector 3) has a gate
    times 6 dq 0
    dw breakpoint                   ; offset 15:0 (the code sits below 64 KiB)
    dw 0x08                         ; 64-bit code selector
    db 0, 0x8e                      ; present, DPL 0, interrupt gate
    dw 0                            ; offset 31:16
    dd 0, 0                         ; offset 63:32, reserved
idt_desc:
    dw 4 * 16 - 1
    dq idt

msg_real: db "KVMKIT-PROBE real-mode", 13, 10, 0
msg_long: db "KVMKIT-PROBE long-mode efer=", 0
msg_end:  db 13, 10, 0
msg_exc:  db "KVMKIT-PROBE exception int3", 13, 10, 0
msg_done: db "KVMKIT-PROBE done", 13, 10, 0

times 510 - ($ - $$) db 0
dw 0xaa55
