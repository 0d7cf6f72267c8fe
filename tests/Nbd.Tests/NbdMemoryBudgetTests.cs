using IscsiUp.Nbd;

namespace IscsiUp.Nbd.Tests;

public sealed class NbdMemoryBudgetTests
{
    [Fact]
    public async Task Waiters_are_served_in_arrival_order_so_a_large_request_is_not_overtaken_forever()
    {
        var budget = new NbdMemoryBudget(10);
        await budget.AcquireAsync(8, CancellationToken.None);
        var large = budget.AcquireAsync(6, CancellationToken.None).AsTask();
        var small = budget.AcquireAsync(1, CancellationToken.None).AsTask(); // would fit now, but waits its turn

        Assert.False(large.IsCompleted);
        Assert.False(small.IsCompleted);
        budget.Release(8);
        await large.WaitAsync(TimeSpan.FromSeconds(5));
        await small.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(7, budget.InUse);
    }

    [Fact]
    public async Task A_cancelled_waiter_leaves_the_queue_and_lets_the_next_one_in()
    {
        var budget = new NbdMemoryBudget(10);
        await budget.AcquireAsync(5, CancellationToken.None);
        using var cancel = new CancellationTokenSource();
        var blocked = budget.AcquireAsync(10, cancel.Token).AsTask();
        var behind = budget.AcquireAsync(5, CancellationToken.None).AsTask();

        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => blocked);
        await behind.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(10, budget.InUse);
    }

    [Fact]
    public async Task A_request_larger_than_the_budget_runs_alone()
    {
        var budget = new NbdMemoryBudget(4);
        await budget.AcquireAsync(1, CancellationToken.None);
        var huge = budget.AcquireAsync(100, CancellationToken.None).AsTask();
        Assert.False(huge.IsCompleted);

        budget.Release(1);
        await huge.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(4, budget.InUse);
        budget.Release(100);
        Assert.Equal(0, budget.InUse);
    }
}
