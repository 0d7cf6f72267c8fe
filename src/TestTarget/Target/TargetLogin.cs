using System.Security.Cryptography;
using IscsiUp.Iscsi.Login;
using IscsiUp.Iscsi.Pdus;

namespace IscsiUp.TestTarget.Target;

/// <summary>
/// The responder side of an iSCSI login on one connection (RFC 7143 sections 6, 11.12-11.13 and 12.1): checks
/// who is logging in to what, runs the security stage (AuthMethod None or CHAP, one-way or mutual), answers the
/// operational keys with <see cref="Negotiation.Answer"/>, follows the Continue bit both ways, and hands out the
/// TSIH in the final response. A refusal is a Login response with a status, after which the caller closes the connection.
/// </summary>
public sealed class TargetLogin
{
    private const int MaxRounds = 64;

    /// <summary>Login PDUs carry at most 8192 bytes of text: a declared MaxRecvDataSegmentLength applies only after login.</summary>
    private const int LoginSegmentLimit = 8192;
    private static readonly KeyDefinition ChapAlgorithmKey = new(LoginKeys.ChapAlgorithm, KeyKind.List);
    private static readonly KeyDefinition AuthMethodKey = LoginKeys.Find(LoginKeys.AuthMethod)!;

    private static readonly HashSet<string> IdentityKeys = [LoginKeys.InitiatorName, LoginKeys.InitiatorAlias, LoginKeys.SessionType, LoginKeys.TargetName];

    /// <summary>CHAP_A values we accept, strongest first (the initiator's order decides among them).</summary>
    private static readonly string ChapAlgorithms =
        string.Join(",", new[] { Chap.Sha3_256, Chap.Sha256, Chap.Sha1, Chap.Md5 }.Where(Chap.IsSupported));

    private enum ChapStep { None, AwaitAlgorithm, AwaitResponse, Done }

    private readonly TargetOptions _options;
    private readonly PduReader _reader;
    private readonly PduWriter _writer;
    private readonly Func<ushort> _allocateTsih;
    private readonly string _peer;
    private readonly SessionParameters _parameters = new();

    private uint _statSN = (uint)RandomNumberGenerator.GetInt32(int.MaxValue);
    private uint _expCmdSN;
    private readonly byte[] _isid = new byte[6];
    private ushort _cid;
    private uint _itt;
    private LoginStage _stage = LoginStage.SecurityNegotiation;
    private bool _firstSeen;
    private bool _firstAnswered;
    private string? _initiatorName;
    private string? _initiatorAlias;
    private bool _discovery;
    private string? _authMethod;
    private bool _authenticated;
    private bool _declaredOurs;
    private ChapStep _chap;
    private int _chapAlgorithm;
    private byte _chapIdentifier;
    private byte[]? _chapChallenge;
    private (LoginStages Stages, byte[] Text, ushort Tsih)? _final;

    public TargetLogin(TargetOptions options, PduReader reader, PduWriter writer, Func<ushort> allocateTsih, string peer)
    {
        _options = options;
        _reader = reader;
        _writer = writer;
        _allocateTsih = allocateTsih;
        _peer = peer;
    }

    /// <summary>Why the login failed (for the log), or null.</summary>
    public string? FailureReason { get; private set; }

    /// <summary>The status sent to the initiator when the login failed.</summary>
    public ushort FailureStatus { get; private set; }

    /// <summary>The initiator name, once its first request was read.</summary>
    public string? InitiatorName => _initiatorName;

    /// <summary>
    /// Runs the login from its first request (already read, data included) to the final response.
    /// Returns null when the login was refused (the refusal has been sent) or the initiator went away.
    /// </summary>
    public async Task<LoginOutcome?> RunAsync(Pdu request, CancellationToken ct)
    {
        try
        {
            CheckFirstRequest(request);
            for (int round = 0; round < MaxRounds; round++)
            {
                var (stage, next, transit) = request.Stages;
                CheckSameLogin(request);
                if (stage != _stage && !(stage == LoginStage.OperationalNegotiation && !_firstSeen))
                    throw new LoginFailure(LoginStatus.InvalidDuringLogin, $"login request for stage {stage} while in {_stage}");

                TextKeys? keys = await ReceiveTextAsync(request, ct).ConfigureAwait(false);
                if (keys is null) return null;
                if (!_firstSeen) AcceptFirst(keys, stage);
                _stage = stage;

                TextKeys reply = stage == LoginStage.SecurityNegotiation ? AnswerSecurity(keys) : AnswerOperational(keys);
                if (!_firstAnswered)
                {
                    _firstAnswered = true;
                    if (!_discovery)
                    {
                        // RFC 7143 section 13.9: the first response of a normal session names the portal group.
                        reply.Add(LoginKeys.TargetPortalGroupTag, KeyValues.Format(_options.PortalGroupTag));
                        if (_options.TargetAlias is { } alias) reply.Add(LoginKeys.TargetAlias, alias);
                    }
                }

                bool moveOn = transit && CanLeave(stage, next);
                bool final = moveOn && next == LoginStage.FullFeaturePhase;
                var stages = new LoginStages(stage, next, moveOn);
                if (final)
                {
                    // The final response goes out in SendFinalResponseAsync, once the caller has registered the session.
                    ushort tsih = _allocateTsih();
                    _final = (stages, reply.Encode(), tsih);
                    return new LoginOutcome(_initiatorName!, _initiatorAlias, _discovery, _isid, tsih, _cid, _parameters, _expCmdSN,
                        _statSN + (uint)CountPieces(_final.Value.Text));
                }
                if (!await SendTextAsync(stages, reply.Encode(), 0, ct).ConfigureAwait(false)) return null;
                if (moveOn) _stage = next;
                if (!await ReadRequestAsync(request, ct).ConfigureAwait(false)) return null;
            }
            throw new LoginFailure(LoginFailure.InitiatorError, $"login did not finish after {MaxRounds} exchanges");
        }
        catch (LoginFailure failure)
        {
            FailureReason = failure.Message;
            FailureStatus = failure.Status;
            await SendStatusAsync(failure.Status, ct).ConfigureAwait(false);
            return null;
        }
    }

    /// <summary>
    /// Sends the final Login response (T=1, NSG=full feature, the TSIH). Separate from <see cref="RunAsync"/> so the
    /// session exists on the target before the initiator learns that it does.
    /// </summary>
    public async Task SendFinalResponseAsync(CancellationToken ct)
    {
        if (_final is not { } final) throw new InvalidOperationException("the login has not reached its final response");
        _final = null;
        if (!await SendTextAsync(final.Stages, final.Text, final.Tsih, ct).ConfigureAwait(false))
            throw new EndOfStreamException("initiator went away before the final login response");
    }

    private static int CountPieces(byte[] text) => Math.Max(1, (text.Length + LoginSegmentLimit - 1) / LoginSegmentLimit);

    private void CheckFirstRequest(Pdu request)
    {
        if (request.Opcode != Opcode.LoginRequest)
            throw new ProtocolException($"first PDU is {request.Opcode}, not a Login request");
        request.Isid.CopyTo(_isid);
        _cid = request.ConnectionId;
        _itt = request.InitiatorTaskTag;
        _expCmdSN = request.CmdSN;
        if (request.VersionMin > 0) throw new LoginFailure(LoginStatus.UnsupportedVersion, $"initiator needs iSCSI version {request.VersionMin} or later");
        if (request.Tsih != 0)
            throw new LoginFailure(LoginStatus.SessionDoesNotExist, $"initiator asked to join session TSIH {request.Tsih}, and this target has one connection per session");
    }

    private void CheckSameLogin(Pdu request)
    {
        if (request.Opcode != Opcode.LoginRequest)
            throw new ProtocolException($"{request.Opcode} PDU during login");
        if (!request.Isid.SequenceEqual(_isid) || request.ConnectionId != _cid)
            throw new LoginFailure(LoginFailure.InitiatorError, "ISID or CID changed in the middle of the login");
        _itt = request.InitiatorTaskTag;
    }

    /// <summary>The first request names the initiator, the session type and the target; refuse early what cannot succeed.</summary>
    private void AcceptFirst(TextKeys keys, LoginStage stage)
    {
        _firstSeen = true;
        _initiatorName = keys[LoginKeys.InitiatorName];
        if (string.IsNullOrEmpty(_initiatorName)) throw new LoginFailure(LoginStatus.MissingParameter, "the first login request has no InitiatorName");
        _initiatorAlias = keys[LoginKeys.InitiatorAlias];
        string sessionType = keys[LoginKeys.SessionType] ?? "Normal";
        if (sessionType is not ("Normal" or "Discovery"))
            throw new LoginFailure(LoginStatus.SessionTypeNotSupported, $"unknown SessionType={sessionType}");
        _discovery = sessionType == "Discovery";
        if (!_discovery)
        {
            string? target = keys[LoginKeys.TargetName];
            if (string.IsNullOrEmpty(target)) throw new LoginFailure(LoginStatus.MissingParameter, "normal session without TargetName");
            if (!string.Equals(target, _options.TargetName, StringComparison.OrdinalIgnoreCase))
                throw new LoginFailure(LoginStatus.NotFound, $"no target named {target} here");
            if (_options.Acl.Count > 0 && !_options.Acl.Contains(_initiatorName, StringComparer.OrdinalIgnoreCase))
                throw new LoginFailure(LoginStatus.AuthorizationFailure, $"initiator {_initiatorName} is not in the ACL of {_options.TargetName}");
        }
        if (stage == LoginStage.OperationalNegotiation)
        {
            // The initiator skipped the security stage: fine unless we require authentication.
            if (AuthenticationRequired) throw new LoginFailure(LoginStatus.AuthenticationFailure, "initiator skipped the security stage, CHAP is required");
            _authenticated = true;
        }
    }

    private bool AuthenticationRequired => _options.Chap is not null && !_discovery;

    /// <summary>Whether this response may take the initiator to <paramref name="next"/>; throws for an invalid stage transition.</summary>
    private bool CanLeave(LoginStage stage, LoginStage next)
    {
        bool valid = stage == LoginStage.SecurityNegotiation
            ? next is LoginStage.OperationalNegotiation or LoginStage.FullFeaturePhase
            : next == LoginStage.FullFeaturePhase;
        if (!valid) throw new LoginFailure(LoginFailure.InitiatorError, $"invalid transition from {stage} to {next}");
        if (stage != LoginStage.SecurityNegotiation) return true;
        if (_authMethod is null)
        {
            // AuthMethod never offered: it stays None.
            if (AuthenticationRequired) throw new LoginFailure(LoginStatus.AuthenticationFailure, "initiator did not offer AuthMethod, CHAP is required");
            _authenticated = true;
        }
        return _authenticated; // mid-CHAP: stay in the security stage (T=0) until the exchange is done
    }

    private TextKeys AnswerSecurity(TextKeys keys)
    {
        var reply = new TextKeys();
        foreach (var (key, value) in keys)
        {
            switch (key)
            {
                case LoginKeys.AuthMethod:
                    AnswerAuthMethod(value, reply);
                    break;
                case LoginKeys.ChapAlgorithm:
                    AnswerChapAlgorithm(value, reply);
                    break;
                case LoginKeys.ChapName or LoginKeys.ChapResponse or LoginKeys.ChapIdentifier or LoginKeys.ChapChallenge:
                    break; // checked together below
                default:
                    if (!IdentityKeys.Contains(key)) AnswerKey(key, value, reply);
                    break;
            }
        }
        if (keys.Contains(LoginKeys.ChapName) || keys.Contains(LoginKeys.ChapResponse)) VerifyChapResponse(keys, reply);
        return reply;
    }

    private void AnswerAuthMethod(string offered, TextKeys reply)
    {
        string local = _options.Chap is null ? "None" : _discovery ? "CHAP,None" : "CHAP";
        string answer = Negotiation.Answer(AuthMethodKey, offered, local);
        reply.Add(LoginKeys.AuthMethod, answer);
        if (answer == KeyValues.Reject)
            throw new LoginFailure(LoginStatus.AuthenticationFailure, $"initiator offers AuthMethod={offered}, target accepts {local}");
        _authMethod = answer;
        if (answer == "CHAP") _chap = ChapStep.AwaitAlgorithm;
        else _authenticated = true;
    }

    private void AnswerChapAlgorithm(string offered, TextKeys reply)
    {
        if (_chap != ChapStep.AwaitAlgorithm) throw new LoginFailure(LoginStatus.AuthenticationFailure, "CHAP_A out of sequence");
        string answer = Negotiation.Answer(ChapAlgorithmKey, offered, ChapAlgorithms);
        if (answer == KeyValues.Reject || !int.TryParse(answer, out _chapAlgorithm))
            throw new LoginFailure(LoginStatus.AuthenticationFailure, $"none of the CHAP algorithms {offered} is supported (we have {ChapAlgorithms})");
        _chapIdentifier = (byte)RandomNumberGenerator.GetInt32(256);
        _chapChallenge = Chap.NewChallenge(_chapAlgorithm);
        reply.Add(LoginKeys.ChapAlgorithm, answer);
        reply.Add(LoginKeys.ChapIdentifier, Chap.FormatIdentifier(_chapIdentifier));
        reply.Add(LoginKeys.ChapChallenge, Chap.Encode(_chapChallenge));
        _chap = ChapStep.AwaitResponse;
    }

    private void VerifyChapResponse(TextKeys keys, TextKeys reply)
    {
        var chap = _options.Chap;
        if (_chap != ChapStep.AwaitResponse || chap is null) throw new LoginFailure(LoginStatus.AuthenticationFailure, "CHAP response out of sequence");
        string? name = keys[LoginKeys.ChapName];
        string? responseText = keys[LoginKeys.ChapResponse];
        if (name is null || responseText is null) throw new LoginFailure(LoginStatus.AuthenticationFailure, "CHAP_N or CHAP_R missing");
        byte[] expected = Chap.Response(_chapAlgorithm, _chapIdentifier, chap.Secret, _chapChallenge!);
        if (name != chap.User || !CryptographicOperations.FixedTimeEquals(expected, DecodeChap(responseText)))
            throw new LoginFailure(LoginStatus.AuthenticationFailure, $"CHAP authentication failed for user \"{name}\"");

        if (keys[LoginKeys.ChapIdentifier] is { } idText && keys[LoginKeys.ChapChallenge] is { } challengeText)
        {
            // Mutual CHAP: the initiator wants the target to prove it knows the target secret.
            if (!chap.CanAnswerMutual) throw new LoginFailure(LoginStatus.AuthenticationFailure, "initiator asks for mutual CHAP, no target secret is configured");
            if (!Chap.TryParseIdentifier(idText, out byte identifier)) throw new LoginFailure(LoginStatus.AuthenticationFailure, $"bad CHAP_I={idText}");
            byte[] challenge = DecodeChap(challengeText);
            if (challenge.AsSpan().SequenceEqual(_chapChallenge)) throw new LoginFailure(LoginStatus.AuthenticationFailure, "initiator reflected our CHAP challenge");
            reply.Add(LoginKeys.ChapName, chap.MutualUser ?? _options.TargetName);
            reply.Add(LoginKeys.ChapResponse, Chap.Encode(Chap.Response(_chapAlgorithm, identifier, chap.MutualSecret!, challenge)));
        }
        _chap = ChapStep.Done;
        _authenticated = true;
    }

    private static byte[] DecodeChap(string text)
    {
        try { return Chap.Decode(text); }
        catch (LoginException e) { throw new LoginFailure(LoginStatus.AuthenticationFailure, e.Message); }
    }

    private TextKeys AnswerOperational(TextKeys keys)
    {
        var reply = new TextKeys();
        foreach (var (key, value) in keys)
            if (!IdentityKeys.Contains(key)) AnswerKey(key, value, reply);
        if (!_declaredOurs)
        {
            string declared = _options.OperationalValue(LoginKeys.MaxRecvDataSegmentLength)!;
            reply.Add(LoginKeys.MaxRecvDataSegmentLength, declared);
            _parameters.Apply(LoginKeys.MaxRecvDataSegmentLength, declared, fromTarget: true);
            _declaredOurs = true;
        }
        return reply;
    }

    /// <summary>One operational key from the initiator: declarations are recorded, negotiations answered by the RFC rules.</summary>
    private void AnswerKey(string key, string value, TextKeys reply)
    {
        KeyDefinition? definition = LoginKeys.Find(key);
        if (KeyValues.IsSpecial(value)) return; // an answer to something we never offered
        if (definition is null)
        {
            reply.Add(key, KeyValues.NotUnderstood);
            return;
        }
        if (definition.Kind == KeyKind.Declarative)
        {
            if (key == LoginKeys.MaxRecvDataSegmentLength)
            {
                if (!KeyValues.TryParseNumber(value, out long length) || length < definition.Min || length > definition.Max)
                    throw new LoginFailure(LoginFailure.InitiatorError, $"MaxRecvDataSegmentLength={value} is out of range");
                _parameters.Apply(key, value, fromTarget: false);
            }
            return; // TargetAlias, TargetAddress... are ours to declare: ignore
        }
        if (key == LoginKeys.AuthMethod)
        {
            reply.Add(key, KeyValues.Reject); // only in the security stage
            return;
        }
        if (_discovery && definition.IrrelevantForDiscovery)
        {
            reply.Add(key, KeyValues.Irrelevant);
            return;
        }
        string answer = Negotiation.Answer(definition, value, _options.OperationalValue(key) ?? KeyValues.NotUnderstood);
        reply.Add(key, answer);
        if (!KeyValues.IsSpecial(answer)) _parameters.Apply(key, answer, fromTarget: false);
    }

    /// <summary>Collects a request text split over several PDUs (C bit), acknowledging each part with an empty response.</summary>
    private async Task<TextKeys?> ReceiveTextAsync(Pdu request, CancellationToken ct)
    {
        var text = new MemoryStream();
        text.Write(request.Data.Span);
        while (request.Continue)
        {
            if (request.Transit) throw new LoginFailure(LoginFailure.InitiatorError, "login request with both T and C bits");
            if (text.Length > 64 * 1024) throw new LoginFailure(LoginFailure.InitiatorError, "login text longer than 64 KiB");
            if (!await SendPduAsync(LoginStages.Stay(request.CurrentStage), ReadOnlyMemory<byte>.Empty, 0, 0, ct).ConfigureAwait(false)) return null;
            if (!await ReadRequestAsync(request, ct).ConfigureAwait(false)) return null;
            CheckSameLogin(request);
            text.Write(request.Data.Span);
        }
        try
        {
            return TextKeys.Parse(text.ToArray());
        }
        catch (ProtocolException e)
        {
            throw new LoginFailure(LoginFailure.InitiatorError, e.Message);
        }
    }

    /// <summary>Sends a response text, split with the C bit when it exceeds the initiator's MaxRecvDataSegmentLength.</summary>
    private async Task<bool> SendTextAsync(LoginStages stages, byte[] text, ushort tsih, CancellationToken ct)
    {
        const int max = LoginSegmentLimit;
        int offset = 0;
        while (text.Length - offset > max)
        {
            // T=0 while more follows.
            if (!await SendPduAsync(LoginStages.Stay(stages.Current), text.AsMemory(offset, max), 0, 0, ct, more: true).ConfigureAwait(false)) return false;
            offset += max;
            // The initiator asks for the rest with an empty Login request.
            using var ack = new Pdu();
            if (!await ReadRequestAsync(ack, ct).ConfigureAwait(false)) return false;
            CheckSameLogin(ack);
        }
        return await SendPduAsync(stages, text.AsMemory(offset), tsih, 0, ct).ConfigureAwait(false);
    }

    private async Task SendStatusAsync(ushort status, CancellationToken ct)
    {
        try
        {
            await SendPduAsync(LoginStages.Stay(_stage), ReadOnlyMemory<byte>.Empty, 0, status, ct).ConfigureAwait(false);
        }
        catch (IOException) { } // the initiator may already be gone
        catch (OperationCanceledException) { }
    }

    private async Task<bool> SendPduAsync(LoginStages stages, ReadOnlyMemory<byte> data, ushort tsih, ushort status, CancellationToken ct, bool more = false)
    {
        using var pdu = new Pdu(Opcode.LoginResponse, final: false);
        pdu.Stages = stages;
        pdu.Continue = more;
        pdu.VersionMax = 0;
        pdu.VersionActive = 0;
        _isid.CopyTo(pdu.Isid);
        pdu.Tsih = tsih;
        pdu.InitiatorTaskTag = _itt;
        pdu.StatSN = _statSN++;
        pdu.ExpCmdSN = _expCmdSN;
        pdu.MaxCmdSN = _expCmdSN + (uint)_options.CommandWindow - 1;
        pdu.LoginStatusCode = status;
        pdu.SetData(data);
        await _writer.WriteAsync(pdu, ct).ConfigureAwait(false);
        await _writer.FlushAsync(ct).ConfigureAwait(false);
        return true;
    }

    private async Task<bool> ReadRequestAsync(Pdu request, CancellationToken ct) =>
        await _reader.ReadPduAsync(request, ct).ConfigureAwait(false);

    public override string ToString() =>
        $"login of {_initiatorName ?? "?"} from {_peer} ({(_discovery ? "discovery" : _options.TargetName)})";
}
