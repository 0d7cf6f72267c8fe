using System.Text;
using IscsiUp.Initiator.Login;
using IscsiUp.Iscsi.Login;
using IscsiUp.Iscsi.Pdus;
using IscsiUp.Initiator.Session;
using IscsiUp.TestTarget.Target;

namespace IscsiUp.TestTarget.Tests.Target;

/// <summary>The target's login responder, driven with raw Login PDUs and with the project's own initiator login.</summary>
public sealed class LoginTests
{
    private static readonly byte[] Secret = Encoding.UTF8.GetBytes("initiator-secret-12");
    private static readonly byte[] TargetSecret = Encoding.UTF8.GetBytes("target-secret-1234");

    [Fact]
    public async Task InitiatorOutsideTheAclIsRefusedWithAuthorizationFailure()
    {
        await using var running = await TestTargets.StartAsync(new MemoryStorage(1 << 20), o => o with { Acl = ["iqn.2025-01.org.iscsi-up:allowed"] });
        await using var initiator = await RawInitiator.ConnectAsync(running.Port);

        var refused = await Assert.ThrowsAsync<RawLoginRefused>(() => initiator.LoginAsync("iqn.2025-01.org.iscsi-up:intruder", TestTargets.TargetName));

        Assert.Equal(LoginStatus.AuthorizationFailure, refused.Status);
        Assert.True(await initiator.ClosedByTargetAsync(), "the target must close the connection after refusing a login");
        // Counted and logged as the connection closes.
        Assert.True(await running.EventuallyAsync(() => running.Target.LoginFailures == 1 && running.Lines.Any(l => l.Contains("not in the ACL"))), running.LogText);
    }

    [Fact]
    public async Task AclMemberLogsIn()
    {
        await using var running = await TestTargets.StartAsync(new MemoryStorage(1 << 20), o => o with { Acl = ["iqn.2025-01.org.iscsi-up:other", TestTargets.InitiatorName] });
        await using var initiator = await RawInitiator.ConnectAsync(running.Port);

        await initiator.LoginAsync(TestTargets.InitiatorName, TestTargets.TargetName);

        Assert.Equal(1, running.Target.ActiveSessions); // registered before the final response went out
    }

    [Fact]
    public async Task UnknownTargetNameIsRefusedWithNotFound()
    {
        await using var running = await TestTargets.StartAsync(new MemoryStorage(1 << 20));
        await using var initiator = await RawInitiator.ConnectAsync(running.Port);

        var refused = await Assert.ThrowsAsync<RawLoginRefused>(() => initiator.LoginAsync(TestTargets.InitiatorName, "iqn.2025-01.org.iscsi-up:no-such-target"));

        Assert.Equal(LoginStatus.NotFound, refused.Status);
    }

    [Fact]
    public async Task MissingInitiatorNameIsAMissingParameter()
    {
        await using var running = await TestTargets.StartAsync(new MemoryStorage(1 << 20));
        await using var initiator = await RawInitiator.ConnectAsync(running.Port);

        using Pdu response = await initiator.LoginStepAsync(0, 1, new TextKeys { { "SessionType", "Normal" }, { "TargetName", TestTargets.TargetName }, { "AuthMethod", "None" } });

        Assert.Equal(LoginStatus.MissingParameter, RawInitiator.StatusOf(response));
    }

    [Fact]
    public async Task NewerProtocolVersionIsRefused()
    {
        await using var running = await TestTargets.StartAsync(new MemoryStorage(1 << 20));
        await using var initiator = await RawInitiator.ConnectAsync(running.Port);
        using var request = new Pdu(Opcode.LoginRequest, immediate: true, final: false) { Flags = 0x81 };
        request.Bhs[2] = 2; // Version-max
        request.Bhs[3] = 1; // Version-min above 0
        initiator.Isid.CopyTo(request.Bhs, 8);
        request.SetData(new TextKeys { { "InitiatorName", TestTargets.InitiatorName }, { "SessionType", "Discovery" } }.Encode());
        await initiator.SendAsync(request);

        using Pdu response = await initiator.ReceiveAsync();

        Assert.Equal(LoginStatus.UnsupportedVersion, RawInitiator.StatusOf(response));
    }

    [Fact]
    public async Task OperationalKeysAreAnsweredByTheRfcRules()
    {
        await using var running = await TestTargets.StartAsync(new MemoryStorage(1 << 20), o => o with { MaxBurstLength = 65536, MaxOutstandingR2T = 4 });
        await using var initiator = await RawInitiator.ConnectAsync(running.Port);

        await initiator.LoginAsync(TestTargets.InitiatorName, TestTargets.TargetName, new TextKeys
        {
            { "HeaderDigest", "CRC32C,None" },
            { "DataDigest", "None" },
            { "MaxBurstLength", "1048576" },
            { "FirstBurstLength", "8192" },
            { "InitialR2T", "No" },
            { "ImmediateData", "Yes" },
            { "MaxOutstandingR2T", "16" },
            { "DefaultTime2Wait", "5" },
            { "ErrorRecoveryLevel", "2" },
            { "MaxConnections", "4" },
            { "X-com.example.Frobnicate", "Yes" },
            { "MaxRecvDataSegmentLength", "16384" },
        });

        // The TPGT is announced in the first response of a normal session.
        Assert.Equal("1", initiator.FirstResponseKeys["TargetPortalGroupTag"]);
        Assert.Equal("None", initiator.FirstResponseKeys["AuthMethod"]);
        Assert.Equal("CRC32C", initiator.Answers["HeaderDigest"]); // first of the offered list
        Assert.Equal("None", initiator.Answers["DataDigest"]);
        Assert.Equal("65536", initiator.Answers["MaxBurstLength"]); // minimum
        Assert.Equal("8192", initiator.Answers["FirstBurstLength"]);
        Assert.Equal("No", initiator.Answers["InitialR2T"]); // OR: both said No
        Assert.Equal("Yes", initiator.Answers["ImmediateData"]); // AND
        Assert.Equal("4", initiator.Answers["MaxOutstandingR2T"]);
        Assert.Equal("5", initiator.Answers["DefaultTime2Wait"]); // maximum
        Assert.Equal("0", initiator.Answers["ErrorRecoveryLevel"]);
        Assert.Equal("1", initiator.Answers["MaxConnections"]);
        Assert.Equal(KeyValues.NotUnderstood, initiator.Answers["X-com.example.Frobnicate"]);
        Assert.Equal("262144", initiator.Answers["MaxRecvDataSegmentLength"]); // the target's own declaration
        TargetSession session = Assert.Single(running.Target.Sessions);
        Assert.True(session.Parameters.HeaderDigest);
        Assert.Equal(16384, session.Parameters.InitiatorMaxRecvDataSegmentLength);
        Assert.Equal(initiator.Tsih, session.Tsih);
    }

    [Fact]
    public async Task DiscoverySessionAnswersSessionOnlyKeysAsIrrelevant()
    {
        await using var running = await TestTargets.StartAsync(new MemoryStorage(1 << 20));
        await using var initiator = await RawInitiator.ConnectAsync(running.Port);

        await initiator.LoginAsync(TestTargets.InitiatorName, null, new TextKeys { { "MaxBurstLength", "65536" }, { "DataDigest", "None" } });

        Assert.Equal(KeyValues.Irrelevant, initiator.Answers["MaxBurstLength"]);
        Assert.Equal("None", initiator.Answers["DataDigest"]);
        Assert.Null(initiator.FirstResponseKeys["TargetPortalGroupTag"]);
    }

    [Fact]
    public async Task LoginTextSplitWithTheContinueBitIsReassembled()
    {
        await using var running = await TestTargets.StartAsync(new MemoryStorage(1 << 20));
        await using var initiator = await RawInitiator.ConnectAsync(running.Port);
        byte[] text = new TextKeys
        {
            { "InitiatorName", TestTargets.InitiatorName }, { "SessionType", "Normal" },
            { "TargetName", TestTargets.TargetName }, { "AuthMethod", "None" },
        }.Encode();
        int split = 20; // in the middle of a key: the text is one byte stream across PDUs

        using (Pdu ack = await SendPartAsync(initiator, text[..split], more: true, transit: false))
        {
            Assert.Equal(0, RawInitiator.StatusOf(ack));
            Assert.Equal(0, ack.DataSegmentLength); // the target asks for the rest
        }
        using Pdu answer = await SendPartAsync(initiator, text[split..], more: false, transit: true);

        Assert.Equal(0, RawInitiator.StatusOf(answer));
        Assert.Equal("None", TextKeys.Parse(answer.Data.Span)["AuthMethod"]);
    }

    private static async Task<Pdu> SendPartAsync(RawInitiator initiator, byte[] part, bool more, bool transit)
    {
        using var request = new Pdu(Opcode.LoginRequest, immediate: true, final: false);
        request.Flags = (byte)((transit ? 0x81 : 0) | (more ? 0x40 : 0));
        initiator.Isid.CopyTo(request.Bhs, 8);
        request.CmdSN = initiator.CmdSN;
        request.ExpStatSN = initiator.ExpStatSN;
        request.SetData(part);
        await initiator.SendAsync(request);
        return await initiator.ReceiveAsync();
    }

    [Fact]
    public async Task ChapLoginWithTheProjectInitiatorSucceeds()
    {
        await using var running = await TestTargets.StartAsync(new MemoryStorage(1 << 20), o => o with { Chap = new TargetChap("alice", Secret) });

        LoginResult result = await LoginWithInitiatorAsync(running, new ChapCredentials("alice", Secret));

        Assert.NotEqual(0, result.Tsih);
        Assert.Equal(1, running.Target.TotalSessions); // counted before the final response went out
        Assert.Equal(0, running.Target.LoginFailures);
    }

    [Fact]
    public async Task MutualChapProvesTheTargetToo()
    {
        await using var running = await TestTargets.StartAsync(new MemoryStorage(1 << 20),
            o => o with { Chap = new TargetChap("alice", Secret, "target-bob", TargetSecret) });

        LoginResult result = await LoginWithInitiatorAsync(running, new ChapCredentials("alice", Secret, "target-bob", TargetSecret));

        Assert.NotEqual(0, result.Tsih);
    }

    [Fact]
    public async Task MutualChapWithAWrongTargetSecretIsDetectedByTheInitiator()
    {
        await using var running = await TestTargets.StartAsync(new MemoryStorage(1 << 20),
            o => o with { Chap = new TargetChap("alice", Secret, "target-bob", Encoding.UTF8.GetBytes("not-the-target-secret")) });

        var failure = await Assert.ThrowsAsync<LoginException>(() => LoginWithInitiatorAsync(running, new ChapCredentials("alice", Secret, "target-bob", TargetSecret)));

        Assert.Contains("mutual CHAP failed", failure.Message);
    }

    [Theory]
    [InlineData("alice", "wrong-secret-here")]
    [InlineData("mallory", "initiator-secret-12")]
    public async Task WrongChapCredentialsAreAnAuthenticationFailure(string user, string secret)
    {
        await using var running = await TestTargets.StartAsync(new MemoryStorage(1 << 20), o => o with { Chap = new TargetChap("alice", Secret) });

        var failure = await Assert.ThrowsAsync<LoginException>(() => LoginWithInitiatorAsync(running, new ChapCredentials(user, Encoding.UTF8.GetBytes(secret))));

        Assert.Equal(LoginStatus.AuthenticationFailure, failure.Status);
    }

    [Fact]
    public async Task ChapIsRequiredWhenConfigured()
    {
        await using var running = await TestTargets.StartAsync(new MemoryStorage(1 << 20), o => o with { Chap = new TargetChap("alice", Secret) });
        await using var initiator = await RawInitiator.ConnectAsync(running.Port);

        var refused = await Assert.ThrowsAsync<RawLoginRefused>(() => initiator.LoginAsync(TestTargets.InitiatorName, TestTargets.TargetName));

        Assert.Equal(LoginStatus.AuthenticationFailure, refused.Status);
    }

    [Theory]
    [InlineData("7,5", "7")]
    [InlineData("6,7", "6")]
    [InlineData("99,8,7", "8")]
    public async Task ChapAlgorithmIsTheInitiatorsFirstSupportedChoice(string offered, string chosen)
    {
        await using var running = await TestTargets.StartAsync(new MemoryStorage(1 << 20), o => o with { Chap = new TargetChap("alice", Secret) });
        await using var initiator = await RawInitiator.ConnectAsync(running.Port);
        var first = new TextKeys
        {
            { "InitiatorName", TestTargets.InitiatorName }, { "SessionType", "Normal" }, { "TargetName", TestTargets.TargetName }, { "AuthMethod", "CHAP,None" },
        };
        using (Pdu method = await initiator.LoginStepAsync(0, null, first))
            Assert.Equal("CHAP", TextKeys.Parse(method.Data.Span)["AuthMethod"]);

        using Pdu challenge = await initiator.LoginStepAsync(0, null, new TextKeys { { "CHAP_A", offered } });

        var keys = TextKeys.Parse(challenge.Data.Span);
        Assert.Equal(chosen, keys["CHAP_A"]);
        Assert.NotNull(keys["CHAP_I"]);
        Assert.True(Chap.Decode(keys["CHAP_C"]!).Length >= 16);

        // Answer the challenge correctly by hand: the target moves on to the operational stage.
        byte identifier = byte.Parse(keys["CHAP_I"]!);
        byte[] response = Chap.Response(int.Parse(chosen), identifier, Secret, Chap.Decode(keys["CHAP_C"]!));
        using Pdu done = await initiator.LoginStepAsync(0, 1, new TextKeys { { "CHAP_N", "alice" }, { "CHAP_R", Chap.Encode(response) } });
        Assert.Equal(0, RawInitiator.StatusOf(done));
        Assert.Equal(0x81, done.Flags & 0x83);
    }

    [Fact]
    public async Task UnsupportedChapAlgorithmsFailTheLogin()
    {
        await using var running = await TestTargets.StartAsync(new MemoryStorage(1 << 20), o => o with { Chap = new TargetChap("alice", Secret) });
        await using var initiator = await RawInitiator.ConnectAsync(running.Port);
        using (await initiator.LoginStepAsync(0, null, new TextKeys
               {
                   { "InitiatorName", TestTargets.InitiatorName }, { "SessionType", "Normal" }, { "TargetName", TestTargets.TargetName }, { "AuthMethod", "CHAP" },
               })) { }

        using Pdu response = await initiator.LoginStepAsync(0, null, new TextKeys { { "CHAP_A", "42,43" } });

        Assert.Equal(LoginStatus.AuthenticationFailure, RawInitiator.StatusOf(response));
    }

    [Fact]
    public async Task NewLoginWithTheSameIsidReplacesTheOldSession()
    {
        await using var running = await TestTargets.StartAsync(new MemoryStorage(1 << 20));
        await using var first = await RawInitiator.ConnectAsync(running.Port);
        await first.LoginAsync(TestTargets.InitiatorName, TestTargets.TargetName);
        await using var second = await RawInitiator.ConnectAsync(running.Port);

        await second.LoginAsync(TestTargets.InitiatorName, TestTargets.TargetName);

        Assert.True(await first.ClosedByTargetAsync(), "the reinstated session's old connection must be closed");
        Assert.True(await running.EventuallyAsync(() => running.Target.ActiveSessions == 1));
        Assert.NotEqual(first.Tsih, second.Tsih);
    }

    [Fact]
    public async Task ManySessionsAtOnce()
    {
        await using var running = await TestTargets.StartAsync(new MemoryStorage(1 << 20));
        var initiators = new List<RawInitiator>();
        try
        {
            for (int i = 0; i < 8; i++)
            {
                var initiator = await RawInitiator.ConnectAsync(running.Port);
                initiator.Isid[5] = (byte)i;
                initiators.Add(initiator);
            }
            await Task.WhenAll(initiators.Select(i => i.LoginAsync(TestTargets.InitiatorName, TestTargets.TargetName)));

            Assert.True(await running.EventuallyAsync(() => running.Target.ActiveSessions == 8), running.LogText);
            Assert.Equal(8, initiators.Select(i => i.Tsih).Distinct().Count());
        }
        finally
        {
            foreach (var initiator in initiators) await initiator.DisposeAsync();
        }
        Assert.True(await running.EventuallyAsync(() => running.Target.ActiveSessions == 0 && running.Target.ActiveConnections == 0));
    }

    private static async Task<LoginResult> LoginWithInitiatorAsync(RunningTarget running, ChapCredentials chap)
    {
        await using var connection = await IscsiConnection.ConnectAsync(new Portal("127.0.0.1", running.Port), RawInitiator.Timeout, CancellationToken.None);
        var login = new InitiatorLogin(connection, new LoginOptions
        {
            InitiatorName = TestTargets.InitiatorName,
            TargetName = TestTargets.TargetName,
            Chap = chap,
            Timeout = RawInitiator.Timeout,
        });
        return await login.RunAsync(CancellationToken.None);
    }
}
