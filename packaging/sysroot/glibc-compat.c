/* Binds libm's pow, exp and log to the symbol versions every x86_64 glibc has (GLIBC_2.2.5) instead of the
 * GLIBC_2.29 ones that linking against a glibc >= 2.29 picks. Linked against bullseye's glibc 2.31 without
 * this, iscsi-up needed pow@GLIBC_2.29 and log@GLIBC_2.29 (nothing else above 2.28); exp is here too
 * because .NET's Math.Exp calls it and it has the same GLIBC_2.29 version. glibc 2.29 gave these functions new, faster
 * implementations that no longer go through the SVID error-handling wrapper (_LIB_VERSION/matherr); the old
 * versions return the same values and set errno the same way for a program that never sets _LIB_VERSION,
 * which a .NET program cannot do. With this, iscsi-up runs on glibc 2.28 (RHEL 8).
 * Linked into iscsi-up by glibc-compat.targets with -Wl,--wrap=pow,--wrap=exp,--wrap=log, which sends every
 * call of pow to __wrap_pow here (and so on). No #include: this compiles without the sysroot's headers. */

double glibc_2_2_5_pow(double x, double y);
double glibc_2_2_5_exp(double x);
double glibc_2_2_5_log(double x);
__asm__(".symver glibc_2_2_5_pow, pow@GLIBC_2.2.5");
__asm__(".symver glibc_2_2_5_exp, exp@GLIBC_2.2.5");
__asm__(".symver glibc_2_2_5_log, log@GLIBC_2.2.5");

double __wrap_pow(double x, double y) { return glibc_2_2_5_pow(x, y); }
double __wrap_exp(double x) { return glibc_2_2_5_exp(x); }
double __wrap_log(double x) { return glibc_2_2_5_log(x); }
