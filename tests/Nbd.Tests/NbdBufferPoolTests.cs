using IscsiUp.Nbd;

namespace IscsiUp.Nbd.Tests;

/// <summary>
/// When the pool lets its kept 1 MiB buffers go. A run of 4 KiB I/O after a burst of large requests used to count
/// as use and kept the burst's buffers for as long as it lasted: 32 MiB for four devices at depth 8 (issue 18).
/// </summary>
public sealed class NbdBufferPoolTests
{
    private const int Large = 1 << 20;

    [Fact]
    public void Small_buffers_rented_meanwhile_do_not_keep_the_large_ones_from_being_dropped()
    {
        using var pool = new NbdBufferPool(64L << 20, TimeSpan.FromHours(1));
        var kept = pool.Rent(Large);
        pool.Return(kept);

        pool.TrimIfIdle(); // the burst was used in this period
        pool.Return(pool.Rent(4096));
        pool.TrimIfIdle(); // only 4 KiB I/O since: the kept buffer goes

        Assert.NotSame(kept, pool.Rent(Large));
    }

    [Fact]
    public void A_large_buffer_rented_in_the_period_keeps_the_pool()
    {
        using var pool = new NbdBufferPool(64L << 20, TimeSpan.FromHours(1));
        var kept = pool.Rent(Large);
        pool.Return(kept);

        pool.TrimIfIdle();
        pool.Return(pool.Rent(Large)); // reuses the kept one and marks the period as used
        pool.TrimIfIdle();

        Assert.Same(kept, pool.Rent(Large));
    }
}
