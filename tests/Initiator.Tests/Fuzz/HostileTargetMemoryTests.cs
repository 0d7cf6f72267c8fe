using IscsiUp.Initiator.Login;
using IscsiUp.Iscsi.Pdus;
using IscsiUp.Initiator.Scsi;
using IscsiUp.Initiator.Session;
using Xunit.Abstractions;
using IscsiUp.Iscsi.Scsi;

namespace IscsiUp.Initiator.Tests.Fuzz;

/// <summary>Memory a hostile target can make the initiator hold (runs alone: it measures the whole process's heap).</summary>
[Collection(nameof(ExclusiveFuzzCollection))]
public sealed class HostileTargetMemoryTests(ITestOutputHelper output)
{
    /// <summary>
    /// A target that pings (NOP-In with a target transfer tag and data) and never reads the answers: the initiator may
    /// answer, but what it holds for unsent answers must stay bounded rather than grow with every ping.
    /// </summary>
    [Fact]
    public async Task Unanswered_target_pings_do_not_pile_up_in_memory()
    {
        var flooded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var target = new HostileTarget(async p =>
        {
            var data = new byte[64 * 1024];
            for (int i = 0; i < 400; i++)
            {
                var nop = p.Response(Opcode.NopIn, itt: Pdu.ReservedTag);
                nop.TargetTransferTag = (uint)(i + 1);
                nop.SetData(data);
                await p.SendAsync(nop);
            }
            flooded.TrySetResult();
            await release.Task.WaitAsync(TimeSpan.FromSeconds(20)); // not reading the answers meanwhile
        });
        await using var session = await IscsiSession.LoginAsync(new IscsiUp.Initiator.Session.Portal("127.0.0.1", target.Port),
            new LoginOptions { InitiatorName = "iqn.2025-01.org.iscsi-up.test:fuzzer", TargetName = HostileTarget.Name });
        long before = GC.GetTotalMemory(forceFullCollection: true);
        var cdb = new byte[16];
        Cdb.Read16(cdb, 0, 1);
        _ = session.ExecuteAsync(new ScsiCommand(0, cdb, new byte[512])).AsTask(); // starts the flood
        try
        {
            await flooded.Task.WaitAsync(TimeSpan.FromSeconds(20));
            await Task.Delay(300);
            long retained = GC.GetTotalMemory(forceFullCollection: true) - before;
            output.WriteLine($"retained {retained / 1024} KiB after 400 pings of 64 KiB");
            Assert.True(retained < 8 * 1024 * 1024, $"the initiator holds {retained / (1024 * 1024)} MiB of unsent ping answers");
        }
        finally
        {
            release.TrySetResult();
        }
    }
}
