using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace IscsiUp.TestTarget.Storage;

/// <summary>The parity arithmetic of RAID-5: byte-wise XOR, vectorised.</summary>
internal static class Xor
{
    /// <summary><paramref name="accumulator"/> ^= <paramref name="source"/> (equal lengths).</summary>
    public static void Into(Span<byte> accumulator, ReadOnlySpan<byte> source)
    {
        if (source.Length != accumulator.Length)
        {
            throw new ArgumentException(
                $"XOR operands differ in length ({accumulator.Length} and {source.Length} bytes).",
                nameof(source));
        }

        ref byte acc = ref MemoryMarshal.GetReference(accumulator);
        ref byte src = ref MemoryMarshal.GetReference(source);
        nuint length = (nuint)accumulator.Length;
        nuint i = 0;
        if (Vector.IsHardwareAccelerated && length >= (nuint)Vector<byte>.Count)
        {
            nuint lastVector = length - (nuint)Vector<byte>.Count;
            for (; i <= lastVector; i += (nuint)Vector<byte>.Count)
            {
                (Vector.LoadUnsafe(ref acc, i) ^ Vector.LoadUnsafe(ref src, i)).StoreUnsafe(ref acc, i);
            }
        }

        for (; i < length; i++)
        {
            Unsafe.Add(ref acc, i) ^= Unsafe.Add(ref src, i);
        }
    }
}
