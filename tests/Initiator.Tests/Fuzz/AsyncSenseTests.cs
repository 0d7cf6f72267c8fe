using IscsiUp.Initiator.Login;
using IscsiUp.Initiator.Scsi;
using IscsiUp.Initiator.Session;
using IscsiUp.Iscsi.Pdus;
using IscsiUp.Iscsi.Scsi;

namespace IscsiUp.Initiator.Tests.Fuzz;

/// <summary>
/// SCSI asynchronous events (Async Message, AsyncEvent 0): a target may announce a unit attention such as
/// REPORTED LUNS DATA HAS CHANGED without waiting for the next command. The session hands the LUN and the sense
/// to <see cref="IscsiSession.AsyncSense"/>; one whose sense cannot be read is logged and changes nothing else.
/// </summary>
public sealed class AsyncSenseTests
{
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(10);
    private const ulong LunOne = 1UL << 48; // flat addressing

    private static LoginOptions Options() => new()
    {
        InitiatorName = "iqn.2025-01.org.iscsi-up.test:async",
        TargetName = HostileTarget.Name,
        Timeout = TimeSpan.FromSeconds(10),
    };

    /// <summary>Fixed-format sense (SPC-4 4.5.3): response code 70h, the key, then ASC and ASCQ at bytes 12 and 13.</summary>
    private static byte[] FixedSense(byte key, byte asc, byte ascq)
    {
        var sense = new byte[18];
        sense[0] = 0x70;
        sense[2] = key;
        sense[7] = 10;
        sense[12] = asc;
        sense[13] = ascq;
        return sense;
    }

    /// <summary>An Async Message PDU for event 0 whose data segment is SenseLength then <paramref name="sense"/>,
    /// with <paramref name="claimedLength"/> in SenseLength (default: the real length).</summary>
    private static Pdu AsyncEvent(HostilePeer peer, byte[] sense, int? claimedLength = null)
    {
        var pdu = peer.Response(Opcode.AsyncMessage, itt: Pdu.ReservedTag);
        pdu.Final = true;
        pdu.AsyncEvent = 0;
        pdu.Lun = LunOne;
        var data = new byte[2 + sense.Length];
        data[0] = (byte)((claimedLength ?? sense.Length) >> 8);
        data[1] = (byte)(claimedLength ?? sense.Length);
        sense.CopyTo(data, 2);
        pdu.SetData(data);
        return pdu;
    }

    private static ScsiCommand TestUnitReady() => new(0, new byte[6], Memory<byte>.Empty);

    [Fact]
    public async Task A_unit_attention_sent_as_an_asynchronous_event_reaches_AsyncSense_with_its_lun()
    {
        await using var target = new HostileTarget(async p =>
        {
            await p.SendAsync(AsyncEvent(p, FixedSense(SenseData.UnitAttention, 0x3F, 0x0E)));
            await p.SendAsync(p.Response(Opcode.ScsiResponse));
        });
        await using var session = await IscsiSession.LoginAsync(new Portal("127.0.0.1", target.Port), Options());
        var seen = new TaskCompletionSource<(ulong Lun, SenseData Sense)>(TaskCreationOptions.RunContinuationsAsynchronously);
        session.AsyncSense += (lun, sense) => seen.TrySetResult((lun, sense));

        Assert.True((await session.ExecuteAsync(TestUnitReady()).AsTask().WaitAsync(Prompt)).IsGood);

        var (lun, sense) = await seen.Task.WaitAsync(Prompt);
        Assert.Equal(LunOne, lun);
        Assert.Equal((SenseData.UnitAttention, (byte)0x3F, (byte)0x0E), (sense.SenseKey, sense.Asc, sense.Ascq));
        Assert.Null(session.Failure);
    }

    [Fact]
    public async Task An_asynchronous_event_whose_sense_length_overruns_its_data_is_logged_and_the_session_goes_on()
    {
        int commands = 0;
        await using var target = new HostileTarget(async p =>
        {
            if (Interlocked.Increment(ref commands) == 1) // before the first command's answer only
                await p.SendAsync(AsyncEvent(p, FixedSense(SenseData.UnitAttention, 0x3F, 0x0E), claimedLength: 400));
            await p.SendAsync(p.Response(Opcode.ScsiResponse));
        });
        await using var session = await IscsiSession.LoginAsync(new Portal("127.0.0.1", target.Port), Options());
        int senses = 0;
        var events = new List<string>();
        session.AsyncSense += (_, _) => Interlocked.Increment(ref senses);
        session.TargetEvent += line => { lock (events) events.Add(line); };

        Assert.True((await session.ExecuteAsync(TestUnitReady()).AsTask().WaitAsync(Prompt)).IsGood);
        Assert.True((await session.ExecuteAsync(TestUnitReady()).AsTask().WaitAsync(Prompt)).IsGood);

        Assert.Equal(0, senses);
        lock (events)
            Assert.Equal([$"target {HostileTarget.Name} at 127.0.0.1:{target.Port} sent a SCSI asynchronous event without readable sense data (ignored)"], events);
        Assert.Null(session.Failure);
    }
}
