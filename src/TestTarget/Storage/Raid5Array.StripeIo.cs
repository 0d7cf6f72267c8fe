using System.Buffers;

namespace IscsiUp.TestTarget.Storage;

// The data path: requests are cut at stripe boundaries and each piece runs under its stripe's
// lock, so parity is always updated together with the data it covers.
public sealed partial class Raid5Array
{
    private void Read(long offset, Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        CheckRange(offset, destination.Length, nameof(destination));
        byte[]? reconstruction = null;
        try
        {
            long stripe = offset / _layout.StripeDataSize;
            int inStripe = (int)(offset % _layout.StripeDataSize);
            while (!destination.IsEmpty)
            {
                int count = Math.Min(destination.Length, _layout.StripeDataSize - inStripe);
                lock (_locks.For(stripe))
                {
                    ReadStripe(CurrentConfiguration(), stripe, inStripe, destination[..count], ref reconstruction);
                }

                destination = destination[count..];
                stripe++;
                inStripe = 0;
            }
        }
        finally
        {
            Return(reconstruction);
        }
    }

    private void Write(long offset, ReadOnlySpan<byte> source)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        CheckRange(offset, source.Length, nameof(source));
        if (source.IsEmpty)
        {
            return;
        }

        byte[] parity = ArrayPool<byte>.Shared.Rent(_layout.ChunkSize);
        byte[] old = ArrayPool<byte>.Shared.Rent(_layout.ChunkSize);
        byte[]? reconstruction = null;
        try
        {
            long stripe = offset / _layout.StripeDataSize;
            int inStripe = (int)(offset % _layout.StripeDataSize);
            while (!source.IsEmpty)
            {
                int count = Math.Min(source.Length, _layout.StripeDataSize - inStripe);
                lock (_locks.For(stripe))
                {
                    WriteStripe(CurrentConfiguration(), stripe, inStripe, source[..count], parity, old, ref reconstruction);
                }

                source = source[count..];
                stripe++;
                inStripe = 0;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(parity);
            ArrayPool<byte>.Shared.Return(old);
            Return(reconstruction);
        }
    }

    private static void Return(byte[]? buffer)
    {
        if (buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private void ReadStripe(ArrayConfiguration config, long stripe, int inStripe, Span<byte> destination, ref byte[]? reconstruction)
    {
        int chunk = _layout.ChunkSize;
        while (!destination.IsEmpty)
        {
            int dataIndex = inStripe / chunk;
            int within = inStripe % chunk;
            int count = Math.Min(destination.Length, chunk - within);
            ReadChunk(config, stripe, _layout.DataSlot(stripe, dataIndex), within, destination[..count], ref reconstruction);
            destination = destination[count..];
            inStripe += count;
        }
    }

    /// <summary>
    /// Writes one stripe's share of a request. Phase 1 reads what parity needs (nothing for a full
    /// stripe), phase 2 writes data then parity. Parity is recomputed by whichever costs fewer
    /// member reads: read-modify-write (old parity and old data of the written range) or
    /// reconstruct-write (the unwritten data of the range); a missing member's chunk counts as
    /// N-1 reads because it has to be reconstructed.
    /// </summary>
    private void WriteStripe(
        ArrayConfiguration config,
        long stripe,
        int inStripe,
        ReadOnlySpan<byte> data,
        byte[] parityBuffer,
        byte[] oldBuffer,
        ref byte[]? reconstruction)
    {
        int chunk = _layout.ChunkSize;
        int dataChunks = _layout.DataChunksPerStripe;
        int end = inStripe + data.Length;
        int first = inStripe / chunk;
        int last = (end - 1) / chunk;

        // [lo, hi) is the byte range within the chunks that parity must cover.
        int lo = first == last ? inStripe % chunk : 0;
        int hi = first == last ? lo + data.Length : chunk;
        long memberOffset = _layout.MemberOffset(stripe);
        IMemberDisk? parityDisk = config.DiskFor(_layout.ParitySlot(stripe), stripe);
        Span<byte> parity = parityBuffer.AsSpan(0, hi - lo);

        if (parityDisk is not null)
        {
            int missingSlot = config.MissingSlot(stripe);
            long readModifyWriteCost = hi - lo;
            long reconstructWriteCost = 0;
            for (int d = 0; d < dataChunks; d++)
            {
                int cost = _layout.DataSlot(stripe, d) == missingSlot ? _layout.ActiveDisks - 1 : 1;
                int written = WrittenRange(d, first, last, inStripe, end, chunk, out int ws, out int we) ? we - ws : 0;
                readModifyWriteCost += (long)written * cost;
                reconstructWriteCost += (long)(hi - lo - written) * cost;
            }

            if (reconstructWriteCost <= readModifyWriteCost)
            {
                parity.Clear();
                for (int d = 0; d < dataChunks; d++)
                {
                    int slot = _layout.DataSlot(stripe, d);
                    if (!WrittenRange(d, first, last, inStripe, end, chunk, out int ws, out int we))
                    {
                        ws = we = hi;
                    }

                    if (ws > lo)
                    {
                        Span<byte> old = oldBuffer.AsSpan(0, ws - lo);
                        ReadChunk(config, stripe, slot, lo, old, ref reconstruction);
                        Xor.Into(parity[..(ws - lo)], old);
                    }

                    if (we < hi)
                    {
                        Span<byte> old = oldBuffer.AsSpan(0, hi - we);
                        ReadChunk(config, stripe, slot, we, old, ref reconstruction);
                        Xor.Into(parity[(we - lo)..], old);
                    }

                    if (we > ws)
                    {
                        Xor.Into(parity.Slice(ws - lo, we - ws), data.Slice((d * chunk) + ws - inStripe, we - ws));
                    }
                }
            }
            else
            {
                parityDisk.Read(memberOffset + lo, parity);
                for (int d = first; d <= last; d++)
                {
                    WrittenRange(d, first, last, inStripe, end, chunk, out int ws, out int we);
                    Span<byte> old = oldBuffer.AsSpan(0, we - ws);
                    ReadChunk(config, stripe, _layout.DataSlot(stripe, d), ws, old, ref reconstruction);
                    Span<byte> target = parity.Slice(ws - lo, we - ws);
                    Xor.Into(target, old);
                    Xor.Into(target, data.Slice((d * chunk) + ws - inStripe, we - ws));
                }
            }
        }

        for (int d = first; d <= last; d++)
        {
            WrittenRange(d, first, last, inStripe, end, chunk, out int ws, out int we);
            config.DiskFor(_layout.DataSlot(stripe, d), stripe)?.Write(memberOffset + ws, data.Slice((d * chunk) + ws - inStripe, we - ws));
        }

        parityDisk?.Write(memberOffset + lo, parity);
    }

    /// <summary>The range [ws, we) within data chunk <paramref name="d"/> covered by the write; false when none.</summary>
    private static bool WrittenRange(int d, int first, int last, int inStripe, int end, int chunk, out int ws, out int we)
    {
        if (d < first || d > last)
        {
            ws = we = 0;
            return false;
        }

        ws = d == first ? inStripe - (d * chunk) : 0;
        we = d == last ? end - (d * chunk) : chunk;
        return true;
    }

    /// <summary>Reads part of one slot's chunk, reconstructing it from the other members if that slot is missing.</summary>
    private void ReadChunk(ArrayConfiguration config, long stripe, int slot, int within, Span<byte> destination, ref byte[]? reconstruction)
    {
        long position = _layout.MemberOffset(stripe) + within;
        IMemberDisk? disk = config.DiskFor(slot, stripe);
        if (disk is not null)
        {
            disk.Read(position, destination);
            return;
        }

        reconstruction ??= ArrayPool<byte>.Shared.Rent(_layout.ChunkSize);
        Reconstruct(config, stripe, slot, position, destination, reconstruction.AsSpan(0, destination.Length));
    }

    /// <summary><paramref name="destination"/> = XOR of every other member's bytes at <paramref name="position"/>.</summary>
    private void Reconstruct(ArrayConfiguration config, long stripe, int missingSlot, long position, Span<byte> destination, Span<byte> scratch)
    {
        destination.Clear();
        for (int slot = 0; slot < _layout.ActiveDisks; slot++)
        {
            if (slot == missingSlot)
            {
                continue;
            }

            IMemberDisk disk = config.DiskFor(slot, stripe)
                ?? throw new RaidFailedException(2, _layout.ActiveDisks);
            disk.Read(position, scratch);
            Xor.Into(destination, scratch);
        }
    }
}
