using System.Buffers;

namespace IscsiUp.TestTarget.Storage;

// Background rebuild onto a hot spare. Stripe by stripe, under the stripe lock, the failed
// member's chunk is reconstructed from the others and written to the spare; the rebuild position
// then moves past the stripe so later writes to it update the spare directly. When every stripe
// is done the spare takes the failed member's slot and the array is clean again.
public sealed partial class Raid5Array
{
    private void RunRebuild(RebuildState rebuild)
    {
        try
        {
            bool copied;
            try
            {
                copied = CopyStripesToSpare(rebuild);
                if (copied)
                {
                    rebuild.Target.Disk.Flush();
                }
            }
            catch (Exception ex)
            {
                try
                {
                    AbortRebuild(rebuild, ex);
                }
                finally
                {
                    rebuild.Completion.TrySetException(ex);
                }

                return;
            }

            if (copied)
            {
                FinishRebuild(rebuild);
            }
        }
        finally
        {
            // Superseded (array failed or disposed) or finished: either way no rebuild is running.
            rebuild.Completion.TrySetResult();
        }
    }

    /// <summary>Returns false when the rebuild was superseded (array failed or disposed).</summary>
    private bool CopyStripesToSpare(RebuildState rebuild)
    {
        int chunk = _layout.ChunkSize;
        byte[] chunkBuffer = ArrayPool<byte>.Shared.Rent(chunk);
        byte[] scratchBuffer = ArrayPool<byte>.Shared.Rent(chunk);
        try
        {
            Span<byte> content = chunkBuffer.AsSpan(0, chunk);
            Span<byte> scratch = scratchBuffer.AsSpan(0, chunk);
            for (long stripe = 0; stripe < _layout.StripeCount; stripe++)
            {
                if (rebuild.Cancellation.IsCancellationRequested)
                {
                    return false;
                }

                lock (_locks.For(stripe))
                {
                    ArrayConfiguration config = Volatile.Read(ref _config);
                    if (config.Rebuild != rebuild)
                    {
                        return false;
                    }

                    long position = _layout.MemberOffset(stripe);
                    Reconstruct(config, stripe, config.FailedSlot, position, content, scratch);
                    rebuild.Target.Disk.Write(position, content);
                    rebuild.Position = stripe + 1;
                }
            }

            return true;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunkBuffer);
            ArrayPool<byte>.Shared.Return(scratchBuffer);
        }
    }

    private void FinishRebuild(RebuildState rebuild)
    {
        int slot;
        Member replaced;
        lock (_stateLock)
        {
            ArrayConfiguration config = _config;
            if (config.Rebuild != rebuild || _disposed)
            {
                return;
            }

            slot = config.FailedSlot;
            replaced = config.Slots[slot];
            var slots = (Member[])config.Slots.Clone();
            slots[slot] = rebuild.Target;
            _retired.Add(replaced);
            _config = new ArrayConfiguration(slots, failedSlot: -1, rebuild: null, lostMask: 0);
        }

        RaiseLog($"rebuild onto spare {rebuild.Target.Name} finished: it replaces disk {slot} ({replaced.Name}), array clean");
        _membershipChanged?.Invoke();
    }

    private void AbortRebuild(RebuildState rebuild, Exception error)
    {
        int slot;
        lock (_stateLock)
        {
            ArrayConfiguration config = _config;
            if (config.Rebuild != rebuild)
            {
                return;
            }

            // The spare could not be written (or a member could not be read): drop it, stay degraded.
            slot = config.FailedSlot;
            _retired.Add(rebuild.Target);
            _config = new ArrayConfiguration(config.Slots, slot, rebuild: null, config.LostMask);
        }

        RaiseLog($"rebuild of disk {slot} onto spare {rebuild.Target.Name} aborted ({error.Message}), array degraded");
        _membershipChanged?.Invoke();
    }
}
