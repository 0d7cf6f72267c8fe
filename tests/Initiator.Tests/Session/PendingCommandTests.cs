using IscsiUp.Initiator.Session;

namespace IscsiUp.Initiator.Tests.Session;

/// <summary>A slot is given back only once the Data-Out sequences that read its caller's buffer are over; the
/// caller learns that from a signal, not by polling.</summary>
public sealed class PendingCommandTests
{
    [Fact]
    public void With_no_data_out_running_the_slot_is_free_at_once()
    {
        var slot = new PendingCommand(0);

        Assert.True(slot.DataOutDone().IsCompleted);
    }

    [Fact]
    public async Task The_caller_is_woken_by_the_last_data_out_to_finish()
    {
        var slot = new PendingCommand(0);
        slot.DataOutStarted();
        slot.DataOutStarted();

        var done = slot.DataOutDone();
        Assert.False(done.IsCompleted);
        slot.DataOutFinished();
        Assert.False(done.IsCompleted);
        slot.DataOutFinished();
        await done.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.True(slot.DataOutDone().IsCompleted);
    }

    [Fact]
    public async Task A_data_out_finishing_while_the_caller_starts_to_wait_is_never_missed()
    {
        var slot = new PendingCommand(0);
        for (int round = 0; round < 10_000; round++)
        {
            slot.DataOutStarted();
            var finisher = Task.Run(slot.DataOutFinished);
            await slot.DataOutDone().WaitAsync(TimeSpan.FromSeconds(10));
            await finisher;
        }
    }
}
