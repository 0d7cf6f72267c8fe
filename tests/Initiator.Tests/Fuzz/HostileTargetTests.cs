using System.Diagnostics;
using IscsiUp.Initiator.Login;
using IscsiUp.Iscsi.Pdus;
using IscsiUp.Initiator.Scsi;
using IscsiUp.Initiator.Session;
using IscsiUp.TestTarget.Storage;
using IscsiUp.TestTarget.Target;
using Xunit.Abstractions;
using IscsiUp.Iscsi.Scsi;

namespace IscsiUp.Initiator.Tests.Fuzz;

/// <summary>
/// <see cref="IscsiSession"/> against a target that logs in normally and then misbehaves. The command in flight
/// must fail promptly with a <see cref="SessionLostException"/> naming the problem, later commands must fail at
/// once, and the initiator must still work with a well-behaved target afterwards.
/// </summary>
public sealed class HostileTargetTests(GoodTargetFixture good, ITestOutputHelper output) : IClassFixture<GoodTargetFixture>
{
    private const int Blocks = 8;
    private const int Length = Blocks * 512;
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(10);

    private static LoginOptions Options(DigestMode digests = DigestMode.None) => new()
    {
        InitiatorName = "iqn.2025-01.org.iscsi-up.test:fuzzer",
        TargetName = HostileTarget.Name,
        HeaderDigest = digests,
        DataDigest = digests,
        Timeout = TimeSpan.FromSeconds(10),
    };

    private static ScsiCommand Read(byte[] buffer)
    {
        var cdb = new byte[16];
        Cdb.Read16(cdb, 0, (uint)(buffer.Length / 512));
        return new ScsiCommand(0, cdb, buffer);
    }

    private static ScsiCommand Write(byte[] data)
    {
        var cdb = new byte[16];
        Cdb.Write16(cdb, 0, (uint)(data.Length / 512), fua: false);
        return new ScsiCommand(0, cdb, writeBuffer: data);
    }

    private sealed record Scenario(string Name, bool Write, DigestMode Digests, string Expected, HostileTarget.Behaviour Behave)
    {
        public override string ToString() => Name;
    }

    private static readonly Scenario[] All =
    [
        new("unknown opcode", false, DigestMode.None, "unexpected", async p =>
        {
            var pdu = p.Response(Opcode.DataIn);
            pdu.Bhs[0] = 0x3A; // not a target opcode
            await p.SendAsync(pdu);
        }),
        new("initiator opcode from the target", false, DigestMode.None, "unexpected", p => p.SendAsync(p.Response(Opcode.ScsiCommand))),
        new("login response in full feature phase", false, DigestMode.None, "unexpected", p => p.SendAsync(p.Response(Opcode.LoginResponse))),
        new("Data-In for an unknown task tag", false, DigestMode.None, "Data-In for unknown task",
            p => p.SendAsync(p.DataIn(0, new byte[512], status: 0, itt: p.Itt ^ 0x0A0A_0000))),
        new("Data-In for a control task tag", false, DigestMode.None, "Data-In for unknown task",
            p => p.SendAsync(p.DataIn(0, new byte[512], itt: 0x8000_0001))),
        new("Data-In for the reserved tag", false, DigestMode.None, "Data-In for unknown task",
            p => p.SendAsync(p.DataIn(0, new byte[512], itt: Pdu.ReservedTag))),
        new("Data-In overrunning the buffer", false, DigestMode.None, "overruns",
            p => p.SendAsync(p.DataIn(Length - 100, new byte[512]))),
        new("Data-In at a huge offset", false, DigestMode.None, "overruns",
            p => p.SendAsync(p.DataIn(0xFFFF_FF00, new byte[512]))),
        new("Data-In longer than the whole buffer", false, DigestMode.None, "overruns",
            p => p.SendAsync(p.DataIn(0, new byte[Length + 4]))),
        new("Data-In for a write command", true, DigestMode.None, "overruns",
            p => p.SendAsync(p.DataIn(0, new byte[512]))),
        new("Data-In longer than MaxRecvDataSegmentLength", false, DigestMode.None, "more than the negotiated", async p =>
        {
            var header = p.Encode(p.DataIn(0, new byte[4]))[..Pdu.BhsLength];
            header[5] = 0x10; header[6] = 0; header[7] = 0; // 1 MiB claimed, nothing sent
            await p.SendRawAsync(header);
        }),
        new("R2T outside the write", true, DigestMode.None, "R2T asks for offset", async p =>
        {
            var r2t = p.Response(Opcode.ReadyToTransfer);
            r2t.TargetTransferTag = 0x1234;
            r2t.BufferOffset = 0;
            r2t.DesiredDataTransferLength = Length + 512;
            await p.SendAsync(r2t);
        }),
        new("R2T at a huge offset", true, DigestMode.None, "R2T asks for offset", async p =>
        {
            var r2t = p.Response(Opcode.ReadyToTransfer);
            r2t.TargetTransferTag = 0x1234;
            r2t.BufferOffset = 0xFFFF_FE00;
            r2t.DesiredDataTransferLength = 0x400;
            await p.SendAsync(r2t);
        }),
        new("R2T of zero length", true, DigestMode.None, "R2T asks for offset", async p =>
        {
            var r2t = p.Response(Opcode.ReadyToTransfer);
            r2t.TargetTransferTag = 0x1234;
            await p.SendAsync(r2t);
        }),
        new("R2T for a read command", false, DigestMode.None, "R2T asks for offset", async p =>
        {
            var r2t = p.Response(Opcode.ReadyToTransfer);
            r2t.TargetTransferTag = 0x1234;
            r2t.DesiredDataTransferLength = 512;
            await p.SendAsync(r2t);
        }),
        new("R2T for an unknown task", true, DigestMode.None, "R2T for unknown task", async p =>
        {
            var r2t = p.Response(Opcode.ReadyToTransfer, itt: p.Itt + 1);
            r2t.TargetTransferTag = 0x1234;
            r2t.DesiredDataTransferLength = 512;
            await p.SendAsync(r2t);
        }),
        new("SCSI Response for an unknown task", false, DigestMode.None, "SCSI Response for unknown task",
            p => p.SendAsync(p.Response(Opcode.ScsiResponse, itt: p.Itt + 0x0001_0000))),
        new("Reject that quotes nothing", false, DigestMode.None, "without quoting", async p =>
        {
            var reject = p.Response(Opcode.Reject, itt: Pdu.ReservedTag);
            reject.Response = 0x09;
            reject.SetData(new byte[10]);
            await p.SendAsync(reject);
        }),
        new("truncated header", false, DigestMode.None, "middle of a PDU header", async p =>
        {
            await p.SendRawAsync(p.Encode(p.DataIn(0, new byte[512], status: 0))[..20]);
            p.Close();
        }),
        new("truncated data segment", false, DigestMode.None, "failed", async p =>
        {
            await p.SendRawAsync(p.Encode(p.DataIn(0, new byte[Length], status: 0))[..(Pdu.BhsLength + 1000)]);
            p.Close();
        }),
        new("connection closed instead of an answer", false, DigestMode.None, "closed the connection", p =>
        {
            p.Close();
            return Task.CompletedTask;
        }),
        new("header digest mismatch", false, DigestMode.Require, "header digest mismatch", async p =>
        {
            var bytes = p.Encode(p.DataIn(0, new byte[Length], status: 0));
            bytes[Pdu.BhsLength] ^= 0x01; // first byte of the header digest
            await p.SendRawAsync(bytes);
        }),
        new("data digest mismatch", false, DigestMode.Require, "data digest mismatch", async p =>
        {
            var bytes = p.Encode(p.DataIn(0, new byte[Length], status: 0));
            bytes[^1] ^= 0x80; // last byte of the data digest
            await p.SendRawAsync(bytes);
        }),
        new("corrupted data with data digests", false, DigestMode.Require, "data digest mismatch", async p =>
        {
            var bytes = p.Encode(p.DataIn(0, new byte[Length], status: 0));
            bytes[Pdu.BhsLength + 4 + 100] ^= 0x10; // a data byte, after BHS and header digest
            await p.SendRawAsync(bytes);
        }),
    ];

    public static TheoryData<string> ScenarioNames()
    {
        var names = new TheoryData<string>();
        foreach (var s in All) names.Add(s.Name);
        return names;
    }

    [Theory]
    [MemberData(nameof(ScenarioNames))]
    public async Task A_misbehaving_target_fails_the_command_promptly_with_a_named_session_loss(string name)
    {
        var scenario = All.Single(s => s.Name == name);
        await using var target = new HostileTarget(scenario.Behave);
        var session = await IscsiSession.LoginAsync(new IscsiUp.Initiator.Session.Portal("127.0.0.1", target.Port), Options(scenario.Digests));
        await using var _ = session;
        var lost = new TaskCompletionSource<Exception>(TaskCreationOptions.RunContinuationsAsynchronously);
        session.Lost += e => lost.TrySetResult(e);
        var data = new byte[Length];
        new Random(1).NextBytes(data);

        var clock = Stopwatch.StartNew();
        var command = session.ExecuteAsync(scenario.Write ? Write(data) : Read(new byte[Length])).AsTask();
        Exception? thrown = null;
        try
        {
            await command.WaitAsync(Prompt);
        }
        catch (Exception e)
        {
            thrown = e;
        }
        output.WriteLine($"{name}: {thrown?.GetType().Name}: {thrown?.Message} after {clock.ElapsedMilliseconds} ms; target: {target.LogText}");

        Assert.True(target.CommandSeen.Task.IsCompleted, "the command never reached the fake target: " + target.LogText);
        Assert.False(thrown is TimeoutException, $"the command did not fail within {Prompt.TotalSeconds} s");
        var error = Assert.IsType<SessionLostException>(thrown);
        Assert.Contains(scenario.Expected, error.Message);
        Assert.Contains(HostileTarget.Name, error.Message);
        Assert.Same(error, session.Failure);
        Assert.Same(error, await lost.Task.WaitAsync(Prompt));

        // The session is dead: the next command fails at once, without touching the network.
        var next = await Assert.ThrowsAsync<SessionLostException>(async () => await session.ExecuteAsync(Read(new byte[512])).AsTask().WaitAsync(Prompt));
        Assert.Same(error, next);

        await good.ProveAnotherSessionWorksAsync(name.Aggregate(17, (h, c) => h * 31 + c));
    }

    [Fact]
    public async Task The_fake_target_itself_serves_a_well_formed_read_and_write()
    {
        var data = new byte[Length];
        new Random(2).NextBytes(data);
        await using var target = new HostileTarget(async p =>
        {
            if (p.IsRead) await p.SendAsync(p.DataIn(0, data, status: 0));
            else await p.SendAsync(p.Response(Opcode.ScsiResponse));
        });
        foreach (var digests in new[] { DigestMode.None, DigestMode.Require })
        {
            await using var session = await IscsiSession.LoginAsync(new IscsiUp.Initiator.Session.Portal("127.0.0.1", target.Port), Options(digests));
            var buffer = new byte[Length];
            var result = await session.ExecuteAsync(Read(buffer)).AsTask().WaitAsync(Prompt);
            Assert.True(result.IsGood);
            Assert.Equal(data, buffer);
            Assert.True((await session.ExecuteAsync(Write(data)).AsTask().WaitAsync(Prompt)).IsGood);
            Assert.Null(session.Failure);
        }
    }

    /// <summary>Random bytes after a command, then the connection closes: the session must end in a SessionLostException, whatever the bytes said.</summary>
    [Fact]
    public async Task Random_bytes_instead_of_an_answer_end_the_session_cleanly()
    {
        await FuzzRunner.RunAsync(defaultSeed: 8_000, defaultCases: 25, TimeSpan.FromSeconds(120), async (seed, r) =>
        {
            bool write = r.Next(2) == 0;
            var digests = r.Next(3) == 0 ? DigestMode.Require : DigestMode.None;
            int length = r.Next(1, 600);
            bool validHeaderFirst = r.Next(2) == 0;
            await using var target = new HostileTarget(async p =>
            {
                var noise = new byte[length];
                r.NextBytes(noise);
                if (validHeaderFirst)
                {
                    // A plausible PDU header for this task, then noise: the reader gets further before it fails.
                    var header = p.Encode(p.DataIn((uint)r.Next(0, Length), new byte[r.Next(1, 64)], status: r.Next(2) == 0 ? (byte)0 : null));
                    noise = [.. header.AsSpan(0, r.Next(1, header.Length)), .. noise];
                }
                await p.SendRawAsync(noise);
                await Task.Delay(r.Next(0, 3) * 20);
                p.Close();
            });
            await using var session = await IscsiSession.LoginAsync(new IscsiUp.Initiator.Session.Portal("127.0.0.1", target.Port), Options(digests));
            var data = new byte[Length];
            Exception? thrown = null;
            try
            {
                var result = await session.ExecuteAsync(write ? Write(data) : Read(new byte[Length])).AsTask().WaitAsync(Prompt);
                // Noise can, rarely, be a valid status for this very task; then the session must still end when the target hangs up.
                output.WriteLine($"seed {seed}: command completed with status {result.Status}");
                await WaitForFailureAsync(session);
            }
            catch (Exception e)
            {
                thrown = e;
            }
            if (thrown is not null)
            {
                Assert.False(thrown is TimeoutException, $"the command did not fail within {Prompt.TotalSeconds} s; target: {target.LogText}");
                Assert.IsType<SessionLostException>(thrown);
            }
            Assert.IsType<SessionLostException>(session.Failure);
        });
        await good.ProveAnotherSessionWorksAsync(8_000);
    }

    private static async Task WaitForFailureAsync(IscsiSession session)
    {
        var deadline = DateTime.UtcNow + Prompt;
        while (session.Failure is null && DateTime.UtcNow < deadline) await Task.Delay(10);
    }

    /// <summary>
    /// A target that sends an R2T and then, at once, the SCSI Response for the same write (early completion). Once
    /// the command has completed, the initiator must not send Data-Out for that R2T under another command's task tag,
    /// nor read the caller's buffer after handing it back.
    /// </summary>
    [Fact]
    public async Task Data_out_for_an_r2t_never_outlives_its_command()
    {
        for (int round = 0; round < 20; round++)
        {
            var dataOuts = new System.Collections.Concurrent.ConcurrentQueue<(uint Itt, uint Ttt, byte First)>();
            uint firstItt = 0;
            int commands = 0;
            await using var target = new HostileTarget(async p =>
            {
                if (Interlocked.Increment(ref commands) == 1)
                {
                    firstItt = p.Itt;
                    var r2t = p.Response(Opcode.ReadyToTransfer);
                    r2t.TargetTransferTag = 0x77;
                    r2t.DesiredDataTransferLength = Length;
                    await p.SendRawAsync(p.Encode(r2t).Concat(p.Encode(p.Response(Opcode.ScsiResponse))).ToArray());
                }
                else await p.SendAsync(p.Response(Opcode.ScsiResponse));
            }, onOther: pdu =>
            {
                if (pdu.Opcode == Opcode.DataOut) dataOuts.Enqueue((pdu.InitiatorTaskTag, pdu.TargetTransferTag, pdu.Data.Span[0]));
            });
            await using var session = await IscsiSession.LoginAsync(new IscsiUp.Initiator.Session.Portal("127.0.0.1", target.Port), Options());
            var first = Enumerable.Repeat((byte)0xAA, Length).ToArray();
            Assert.True((await session.ExecuteAsync(Write(first)).AsTask().WaitAsync(Prompt)).IsGood);
            first.AsSpan().Fill(0xBB); // the caller owns its buffer again
            Assert.True((await session.ExecuteAsync(Write(Enumerable.Repeat((byte)0xCC, Length).ToArray())).AsTask().WaitAsync(Prompt)).IsGood);
            await Task.Delay(50);
            foreach (var d in dataOuts)
            {
                Assert.True(d.Itt == firstItt, $"round {round}: Data-Out for TTT 0x{d.Ttt:x} carried ITT 0x{d.Itt:x8}, the R2T was for 0x{firstItt:x8}");
                Assert.True(d.First == 0xAA, $"round {round}: Data-Out carried 0x{d.First:x2}: bytes the caller wrote after the command completed");
            }
        }
    }

    /// <summary>Many commands in flight when the target turns hostile: every one of them fails, none hangs.</summary>
    [Fact]
    public async Task Every_command_in_flight_fails_when_the_target_turns_hostile()
    {
        int commands = 0;
        await using var target = new HostileTarget(async p =>
        {
            if (Interlocked.Increment(ref commands) < 16) return; // hold the first 15 unanswered
            await p.SendAsync(p.DataIn(0, new byte[512], itt: p.Itt ^ 0x7F7F_0000));
        });
        await using var session = await IscsiSession.LoginAsync(new IscsiUp.Initiator.Session.Portal("127.0.0.1", target.Port), Options());
        var tasks = Enumerable.Range(0, 16).Select(_ => session.ExecuteAsync(Read(new byte[Length])).AsTask()).ToArray();
        foreach (var task in tasks)
        {
            var error = await Assert.ThrowsAsync<SessionLostException>(() => task.WaitAsync(Prompt));
            Assert.Contains("unknown task", error.Message);
        }
    }
}

/// <summary>One well-behaved in-process target (the project's own) shared by the hostile-target tests.</summary>
public sealed class GoodTargetFixture : IAsyncLifetime
{
    public const string Name = "iqn.2025-01.org.iscsi-up.test:good";
    private Raid5Array? _storage;
    private IscsiTarget? _target;

    public async Task InitializeAsync()
    {
        _storage = Raid5Array.CreateInMemory(3, 0, 1 << 20, 64 * 1024);
        _target = new IscsiTarget(new TargetOptions
        {
            TargetName = Name,
            Host = "127.0.0.1",
            Port = 0,
            Luns = new Dictionary<int, IBlockStorage> { [0] = _storage },
        });
        await _target.StartAsync();
    }

    /// <summary>Logs in, writes and reads back a few blocks, logs out.</summary>
    public async Task ProveAnotherSessionWorksAsync(int seed)
    {
        var options = new LoginOptions { InitiatorName = "iqn.2025-01.org.iscsi-up.test:fuzzer", TargetName = Name, Timeout = TimeSpan.FromSeconds(10) };
        await using var session = await IscsiSession.LoginAsync(new IscsiUp.Initiator.Session.Portal("127.0.0.1", _target!.Port), options);
        var disk = await ScsiDisk.OpenAsync(session, 0);
        var data = new byte[8 * 512];
        new Random(seed).NextBytes(data);
        ulong lba = (ulong)(uint)seed % (disk.Capacity.BlockCount - 8);
        await disk.WriteAsync(lba, data);
        var back = new byte[data.Length];
        await disk.ReadAsync(lba, back);
        Assert.Equal(data, back);
        await session.LogoutAsync();
    }

    public async Task DisposeAsync()
    {
        if (_target is not null) await _target.DisposeAsync();
        _storage?.Dispose();
    }
}
