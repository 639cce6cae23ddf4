/*
 * Preloaded into a benchmark's processes, this makes the CPU look like one
 * without AVX-512, AMX or AVX-VNNI (an AMD EPYC of the Zen 2/3 kind), to every
 * library at once.  The libraries' own switches (ATEN_CPU_CAPABILITY,
 * ONEDNN_MAX_CPU_ISA, OPENBLAS_CORETYPE) reach torch and OpenBLAS only;
 * ONNX Runtime, OpenVINO, FAISS and NumPy each read CPUID themselves.
 *
 * How: Linux's CPUID faulting (arch_prctl ARCH_SET_CPUID, the cpuid_fault
 * flag) makes every CPUID instruction in this thread raise SIGSEGV.  The
 * handler runs the real CPUID with faulting lifted for that one instruction,
 * clears the hidden feature bits and steps over the instruction.  Faulting is
 * per thread, inherited by new threads and forks, and lifted by execve, so
 * every new program runs this constructor again through LD_PRELOAD.
 *
 * Anything else that installs a SIGSEGV handler (Python's faulthandler,
 * torch's DataLoader workers) would displace ours, so sigaction() is wrapped:
 * their handler is kept and called for every SIGSEGV that is not a CPUID.
 *
 * Only the feature bits change: the vendor string, caches and XCR0 stay the
 * host's, and the kernel's /proc/cpuinfo still lists the host's flags.
 */
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <cpuid.h>
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);

static sigaction_fn real_sigaction;
static struct sigaction displaced;  /* the handler the program asked for */

static long allow_cpuid(int allowed) { return syscall(SYS_arch_prctl, ARCH_SET_CPUID, allowed); }

#define BIT(n) (1u << (n))

/* Leaf 7 bits, from the Intel SDM vol. 2A, CPUID. */
static void hide(unsigned leaf, unsigned sub, unsigned *a, unsigned *b, unsigned *c, unsigned *d) {
    if (leaf == 7 && sub == 0) {
        /* AVX512F, DQ, IFMA, PF, ER, CD, BW, VL */
        *b &= ~(BIT(16) | BIT(17) | BIT(21) | BIT(26) | BIT(27) | BIT(28) | BIT(30) | BIT(31));
        /* AVX512_VBMI, VBMI2, GFNI, AVX512_VNNI, BITALG, VPOPCNTDQ */
        *c &= ~(BIT(1) | BIT(6) | BIT(8) | BIT(11) | BIT(12) | BIT(14));
        /* AVX512_4VNNIW, 4FMAPS, VP2INTERSECT, AMX_BF16, AVX512_FP16, AMX_TILE, AMX_INT8 */
        *d &= ~(BIT(2) | BIT(3) | BIT(8) | BIT(22) | BIT(23) | BIT(24) | BIT(25));
    } else if (leaf == 7 && sub == 1) {
        /* AVX_VNNI, AVX512_BF16, AMX_FP16, AVX_IFMA */
        *a &= ~(BIT(4) | BIT(5) | BIT(21) | BIT(23));
        /* AVX_VNNI_INT8, AVX_NE_CONVERT, AVX10 */
        *d &= ~(BIT(4) | BIT(5) | BIT(19));
    }
}

static void on_segv(int sig, siginfo_t *info, void *context) {
    greg_t *reg = ((ucontext_t *)context)->uc_mcontext.gregs;
    const uint8_t *ip = (const uint8_t *)reg[REG_RIP];
    if (info->si_code == SI_KERNEL && ip != NULL && ip[0] == 0x0f && ip[1] == 0xa2) {
        unsigned a, b, c, d;
        unsigned leaf = (unsigned)reg[REG_RAX], sub = (unsigned)reg[REG_RCX];
        allow_cpuid(1);
        __cpuid_count(leaf, sub, a, b, c, d);
        allow_cpuid(0);
        hide(leaf, sub, &a, &b, &c, &d);
        reg[REG_RAX] = a;
        reg[REG_RBX] = b;
        reg[REG_RCX] = c;
        reg[REG_RDX] = d;
        reg[REG_RIP] += 2;
        return;
    }
    if (displaced.sa_flags & SA_SIGINFO) {
        displaced.sa_sigaction(sig, info, context);
    } else if (displaced.sa_handler != SIG_DFL && displaced.sa_handler != SIG_IGN) {
        displaced.sa_handler(sig);
    } else {
        /* Returning re-runs the faulting instruction, now with the default action. */
        struct sigaction fallback;
        memset(&fallback, 0, sizeof fallback);
        fallback.sa_handler = SIG_DFL;
        real_sigaction(SIGSEGV, &fallback, NULL);
    }
}

int sigaction(int sig, const struct sigaction *act, struct sigaction *old) {
    if (real_sigaction == NULL) real_sigaction = (sigaction_fn)dlsym(RTLD_NEXT, "sigaction");
    if (sig != SIGSEGV) return real_sigaction(sig, act, old);
    if (old != NULL) *old = displaced;
    if (act != NULL) displaced = *act;
    return 0;
}

__attribute__((constructor)) static void hide_features(void) {
    if (real_sigaction == NULL) real_sigaction = (sigaction_fn)dlsym(RTLD_NEXT, "sigaction");
    struct sigaction ours;
    memset(&ours, 0, sizeof ours);
    ours.sa_sigaction = on_segv;
    ours.sa_flags = SA_SIGINFO;
    sigemptyset(&ours.sa_mask);
    displaced.sa_handler = SIG_DFL;
    if (real_sigaction(SIGSEGV, &ours, NULL) == 0) allow_cpuid(0);
}
