using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using IscsiUp.Initiator.Login;
using IscsiUp.Iscsi.Pdus;
using IscsiUp.Initiator.Session;
using Xunit.Abstractions;
using IscsiUp.Iscsi.Login;

namespace IscsiUp.Initiator.Tests.Fuzz;

/// <summary>
/// The login against a target that answers with nonsense: random keys and values, impossible stages, statuses,
/// redirections, endless continuations, huge data segments. <see cref="IscsiSession.LoginAsync"/> either succeeds or
/// throws a <see cref="LoginException"/> / <see cref="ProtocolException"/> naming the problem, promptly, and never
/// holds more memory than the login phase allows.
/// </summary>
public sealed class HostileLoginTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(10);

    /// <summary>Accepts connections and hands each Login request to <paramref name="answer"/>, which writes whatever it likes.</summary>
    private sealed class LoginTarget : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;

        public LoginTarget(Func<Pdu, Stream, int, Task<bool>> answer)
        {
            _listener.Start();
            _loop = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    TcpClient client;
                    try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
                    catch (Exception) { return; }
                    _ = Task.Run(async () =>
                    {
                        using var _ = client;
                        var stream = client.GetStream();
                        var reader = new PduReader(stream);
                        using var request = new Pdu();
                        try
                        {
                            for (int round = 0; await reader.ReadPduAsync(request, _stop.Token); round++)
                            {
                                Requests++;
                                if (!await answer(request, stream, round)) return;
                            }
                        }
                        catch (Exception) { }
                    });
                }
            });
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
        public int Requests;

        public async ValueTask DisposeAsync()
        {
            _stop.Cancel();
            _listener.Stop();
            await _loop;
        }
    }

    private static LoginOptions Options(TimeSpan? timeout = null) => new()
    {
        InitiatorName = "iqn.2025-01.org.iscsi-up.test:fuzzer",
        TargetName = HostileTarget.Name,
        Timeout = timeout ?? TimeSpan.FromSeconds(5),
    };

    /// <summary>A Login response to <paramref name="request"/> with the given flags, status and text.</summary>
    private static byte[] Response(Pdu request, byte flags, byte[] text, ushort status = 0, byte version = 0, uint? itt = null, Opcode opcode = Opcode.LoginResponse)
    {
        using var response = new Pdu(opcode);
        response.Flags = flags;
        response.Bhs[3] = version;
        request.Bhs.AsSpan(8, 6).CopyTo(response.Bhs.AsSpan(8));
        response.SetU16(14, 7);
        response.InitiatorTaskTag = itt ?? request.InitiatorTaskTag;
        response.StatSN = 1;
        response.ExpCmdSN = request.CmdSN;
        response.MaxCmdSN = request.CmdSN + 8;
        response.SetU16(36, status);
        response.SetData(text);
        var wire = new MemoryStream();
        new PduWriter(wire).WriteAsync(response, CancellationToken.None).AsTask().GetAwaiter().GetResult();
        return wire.ToArray();
    }

    private static readonly string[] SecurityKeys = ["AuthMethod", "TargetPortalGroupTag", "TargetAlias", "CHAP_A", "CHAP_I", "CHAP_C", "X-vendor.thing", "MaxConnections"];
    private static readonly string[] OperationalKeys =
    [
        "HeaderDigest", "DataDigest", "MaxConnections", "InitialR2T", "ImmediateData", "MaxRecvDataSegmentLength", "MaxBurstLength",
        "FirstBurstLength", "DefaultTime2Wait", "DefaultTime2Retain", "MaxOutstandingR2T", "DataPDUInOrder", "DataSequenceInOrder",
        "ErrorRecoveryLevel", "IFMarker", "OFMarker", "TargetPortalGroupTag", "TargetAlias", "SessionType", "X-junk", "AuthMethod",
    ];

    private static string Value(Random r) => r.Next(11) switch
    {
        0 => "None",
        1 => "CHAP",
        2 => r.Next(2) == 0 ? "Yes" : "No",
        3 => r.Next(0, 70000).ToString(),
        4 => "99999999999999",
        5 => "0x" + r.Next().ToString("x"),
        6 => "Reject",
        7 => "NotUnderstood",
        8 => "Irrelevant",
        9 => "-5",
        _ => Encoding.Latin1.GetString(Enumerable.Range(0, r.Next(0, 12)).Select(_ => (byte)r.Next(0x20, 0x100)).ToArray()),
    };

    /// <summary>
    /// A plausible answer most of the time (so the login gets far), with random keys, values, flags and statuses mixed in.
    /// </summary>
    private static byte[] RandomAnswer(Random r, Pdu request, int port)
    {
        int csg = (request.Flags >> 2) & 3, nsg = request.Flags & 3;
        bool transit = (request.Flags & 0x80) != 0;
        var keys = new TextKeys();
        if (csg == 0)
        {
            if (r.Next(4) != 0) keys.Add("AuthMethod", r.Next(5) == 0 ? Value(r) : "None");
            for (int i = r.Next(0, 3); i > 0; i--) keys.Add(SecurityKeys[r.Next(SecurityKeys.Length)], Value(r));
        }
        else
        {
            var offered = TextKeys.Parse(request.Data.Span);
            foreach (var (key, value) in offered)
            {
                if (LoginKeys.Find(key) is not { Kind: not KeyKind.Declarative }) continue;
                if (r.Next(8) == 0) continue; // not answered
                keys.Add(key, r.Next(6) == 0 ? Value(r) : value.Split(',')[0]);
            }
            for (int i = r.Next(0, 3); i > 0; i--) keys.Add(OperationalKeys[r.Next(OperationalKeys.Length)], Value(r));
        }

        byte flags = transit ? (byte)(0x80 | (csg << 2) | nsg) : (byte)(csg << 2);
        if (r.Next(10) == 0) flags = (byte)r.Next(256);
        ushort status = 0;
        if (r.Next(12) == 0)
        {
            status = (ushort)(new[] { 0x0101, 0x0102, 0x0201, 0x0202, 0x0203, 0x0300, 0x0207, 0x0505 }[r.Next(8)]);
            if (status >> 8 == 1 && r.Next(3) != 0)
                keys.Add("TargetAddress", r.Next(3) switch { 0 => $"127.0.0.1:{port},1", 1 => "not a portal:99999", _ => "[::1" }); // nothing that needs DNS
        }
        byte version = r.Next(20) == 0 ? (byte)r.Next(1, 256) : (byte)0;
        uint? itt = r.Next(30) == 0 ? (uint)r.Next() : null;
        var opcode = r.Next(30) == 0 ? (Opcode)r.Next(0x20, 0x40) : Opcode.LoginResponse;
        byte[] wire = Response(request, flags, keys.Encode(), status, version, itt, opcode);
        if (r.Next(60) == 0) wire[r.Next(wire.Length)] ^= (byte)r.Next(1, 256);
        return wire;
    }

    private const string TpgtBug =
        "bug: InitiatorLogin.HandleSecurityAnswer passes TargetPortalGroupTag straight to SessionParameters.Apply, whose Number() " +
        "throws FormatException (\"not a number: xyz\") for a value that is not a number, is negative, is above int.MaxValue or is " +
        "Reject: a target answering TargetPortalGroupTag=xyz in the security stage makes IscsiSession.LoginAsync throw FormatException " +
        "instead of LoginException (the operational stage range-checks declarative numbers first). Fix: the same IsNumeric/range check " +
        "in the security stage, throwing LoginException.";

    private const string RedirectBug =
        "bug: IscsiSession.LoginAsync follows a redirection with Portal.Parse(e.TargetAddress), which throws FormatException for a " +
        "malformed TargetAddress (\"not a portal:99999\", \"[::1\", \"\"), so a target's bad redirect escapes as FormatException " +
        "instead of a LoginException naming the address. Fix: Portal.TryParse and throw LoginException.";

    /// <summary>Until the two FormatException bugs above are fixed, the fuzz run tolerates exactly those and nothing else;
    /// <see cref="Random_login_answers_never_escape_as_another_exception_type"/> is the strict version.</summary>
    [Fact]
    public Task Random_login_answers_end_in_success_or_a_login_or_protocol_error() => LoginFuzzAsync(strict: false);

    [Fact]
    public Task Random_login_answers_never_escape_as_another_exception_type() => LoginFuzzAsync(strict: true);

    private async Task LoginFuzzAsync(bool strict)
    {
        var outcomes = new Dictionary<string, int>();
        await FuzzRunner.RunAsync(defaultSeed: 11_000, defaultCases: 60, TimeSpan.FromSeconds(120), async (seed, r) =>
        {
            int port = 0;
            await using var target = new LoginTarget(async (request, stream, round) =>
            {
                if (round > 40) return false;
                byte[] answer = RandomAnswer(r, request, port);
                if (r.Next(30) == 0) answer = answer[..r.Next(answer.Length)]; // and stop mid-PDU (hanging up only when the header is incomplete): a stall the login timeout must end
                await stream.WriteAsync(answer);
                return answer.Length >= Pdu.BhsLength;
            });
            port = target.Port;
            var clock = Stopwatch.StartNew();
            string outcome;
            try
            {
                var session = await IscsiSession.LoginAsync(new IscsiUp.Initiator.Session.Portal("127.0.0.1", target.Port), Options(TimeSpan.FromSeconds(1)));
                await session.DisposeAsync();
                outcome = "logged in";
            }
            catch (Exception e) when (e is LoginException or ProtocolException)
            {
                outcome = e.GetType().Name;
                Assert.False(string.IsNullOrWhiteSpace(e.Message));
            }
            catch (FormatException e) when (!strict && (e.Message.StartsWith("not a number: ") || e.Message.StartsWith("invalid portal ")))
            {
                outcome = "known FormatException bug";
            }
            catch (Exception e)
            {
                throw new Xunit.Sdk.XunitException($"LoginAsync threw {e.GetType().Name}: {e.Message}");
            }
            Assert.True(clock.Elapsed < Prompt, $"the login took {clock.Elapsed.TotalSeconds:0.0} s");
            if (clock.Elapsed > TimeSpan.FromSeconds(0.9)) outcome += " (timed out)";
            outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
        });
        output.WriteLine(string.Join(", ", outcomes));
        Assert.True(outcomes.GetValueOrDefault("logged in") >= 3, string.Join(", ", outcomes));
    }

    [Theory]
    [InlineData("TargetPortalGroupTag", "xyz")]
    [InlineData("TargetPortalGroupTag", "99999999999")]
    [InlineData("TargetPortalGroupTag", "-1")]
    public async Task A_malformed_declaration_in_the_security_stage_is_a_login_error(string key, string value)
    {
        await using var target = new LoginTarget(async (request, stream, round) =>
        {
            await stream.WriteAsync(Response(request, 0x81, new TextKeys { { "AuthMethod", "None" }, { key, value } }.Encode()));
            return true;
        });
        var error = await Assert.ThrowsAnyAsync<Exception>(() => IscsiSession.LoginAsync(new IscsiUp.Initiator.Session.Portal("127.0.0.1", target.Port), Options()));
        Assert.True(error is LoginException or ProtocolException, $"{error.GetType().Name}: {error.Message}");
        Assert.Contains(key, error.Message);
    }

    [Theory]
    [InlineData("not a portal:99999")]
    [InlineData("[::1")]
    [InlineData("")]
    public async Task A_redirection_to_a_malformed_address_is_a_login_error(string address)
    {
        await using var target = new LoginTarget(async (request, stream, round) =>
        {
            await stream.WriteAsync(Response(request, 0x80, new TextKeys { { "TargetAddress", address } }.Encode(), status: 0x0101));
            return true;
        });
        var error = await Assert.ThrowsAnyAsync<Exception>(() => IscsiSession.LoginAsync(new IscsiUp.Initiator.Session.Portal("127.0.0.1", target.Port), Options()));
        Assert.True(error is LoginException or ProtocolException, $"{error.GetType().Name}: {error.Message}");
    }

    [Fact]
    public async Task Endless_continuations_are_refused_before_they_fill_memory()
    {
        const int piece = 1 << 20; // each Login response carries 1 MiB of text and the C bit
        int sent = 0;
        await using var target = new LoginTarget(async (request, stream, round) =>
        {
            if (round >= 64) return false;
            var text = new byte[piece];
            text.AsSpan().Fill((byte)'a');
            text[0] = (byte)'X'; text[1] = (byte)'=';
            await stream.WriteAsync(Response(request, 0x40, text)); // C=1, T=0, security stage
            Interlocked.Increment(ref sent);
            return true;
        });
        var clock = Stopwatch.StartNew();
        var error = await Assert.ThrowsAnyAsync<Exception>(() => IscsiSession.LoginAsync(new IscsiUp.Initiator.Session.Portal("127.0.0.1", target.Port), Options(TimeSpan.FromSeconds(20))));
        output.WriteLine($"{error.GetType().Name}: {error.Message} after {sent} MiB and {clock.ElapsedMilliseconds} ms");
        Assert.True(error is LoginException or ProtocolException, $"{error.GetType().Name}: {error.Message}");
        Assert.DoesNotContain("timed out", error.Message);
        Assert.True(sent <= 20, $"the initiator asked for {sent} MiB of login text before giving up"); // a cap of up to 16 MiB passes
    }

    [Fact]
    public async Task A_login_response_longer_than_the_login_phase_allows_is_refused_at_once()
    {
        await using var target = new LoginTarget(async (request, stream, round) =>
        {
            var header = Response(request, 0x81, "AuthMethod=None\0"u8.ToArray())[..Pdu.BhsLength];
            header[5] = 0xFF; header[6] = 0xFF; header[7] = 0xF0; // claims ~16 MiB, then nothing
            await stream.WriteAsync(header);
            return true;
        });
        var clock = Stopwatch.StartNew();
        var error = await Assert.ThrowsAnyAsync<Exception>(() => IscsiSession.LoginAsync(new IscsiUp.Initiator.Session.Portal("127.0.0.1", target.Port), Options(TimeSpan.FromSeconds(5))));
        output.WriteLine($"{error.GetType().Name}: {error.Message} after {clock.ElapsedMilliseconds} ms");
        Assert.True(error is LoginException or ProtocolException, $"{error.GetType().Name}: {error.Message}");
        Assert.DoesNotContain("timed out", error.Message); // refused from the header, not after waiting for 16 MiB
        Assert.Contains("8192", error.Message);
    }
}
