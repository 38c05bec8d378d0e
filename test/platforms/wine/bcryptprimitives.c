/* Test-only stand-in for Windows' bcryptprimitives.dll, which Debian 12's wine (8.0) lacks and
 * Windows 10 and later have: Rust's std takes its random bytes from ProcessPrng there. This one
 * answers from RtlGenRandom. scripts/test-platforms.sh puts it into the wine prefix's system32
 * only; nothing ships it. */
#include <windows.h>

BOOLEAN NTAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
  while (length > 0) {
    ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
    if (!SystemFunction036(data, chunk)) return FALSE;
    data += chunk;
    length -= chunk;
  }
  return TRUE;
}
