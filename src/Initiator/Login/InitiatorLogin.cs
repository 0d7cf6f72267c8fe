using System.Security.Cryptography;
using System.Text;
using IscsiUp.Iscsi.Pdus;
using IscsiUp.Iscsi.Login;

namespace IscsiUp.Initiator.Login;

/// <summary>
/// Drives the initiator side of a login on a fresh connection (RFC 7143 sections 6 and 12): the security stage
/// (AuthMethod None or CHAP, one-way or mutual), then operational negotiation, until the target moves the
/// connection to the full-feature phase. Connecting, following a redirection and retrying are the caller's: a
/// failed login says what happened in the <see cref="LoginException"/> it throws.
/// </summary>
public sealed class InitiatorLogin
{
    private const int MaxRounds = 32;
    /// <summary>Login texts are a few hundred bytes; this bounds what a hostile target can make us hold.</summary>
    private const int MaxLoginText = 64 * 1024;
    private const uint LoginItt = 0;

    private readonly ILoginConnection _connection;
    private readonly LoginOptions _options;
    private readonly SessionParameters _parameters = new();
    private readonly Dictionary<string, string> _pendingOffers = new();
    private uint _cmdSN;
    private uint _expStatSN;
    private uint _maxCmdSN;
    private bool _firstResponse = true;
    private ushort _tsih;

    // CHAP progress
    private enum ChapStep { NotStarted, AlgorithmsSent, ResponseSent, Done }
    private ChapStep _chap;
    private bool _chapChosen;
    private byte _mutualIdentifier;
    private byte[]? _mutualChallenge;
    private int _chapAlgorithm;

    public InitiatorLogin(ILoginConnection connection, LoginOptions options)
    {
        _connection = connection;
        _options = options;
        _tsih = options.Tsih;
    }

    public async Task<LoginResult> RunAsync(CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(_options.Timeout);
        try
        {
            return await NegotiateAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new LoginException($"login to {TargetText} at {_connection.Portal} timed out after {_options.Timeout.TotalSeconds:0} s");
        }
        catch (EndOfStreamException)
        {
            throw new LoginException($"the target at {_connection.Portal} closed the connection during login to {TargetText}")
                { ChapAlgorithmListRefused = ChapAlgorithmsPending };
        }
        catch (FormatException e)
        {
            throw new LoginException($"target at {_connection.Portal} sent a malformed login value during login to {TargetText}: {e.Message}");
        }
        catch (ProtocolException e)
        {
            // Say who broke the protocol: the error reaches the user as the one line they see.
            throw new ProtocolException($"{e.Message} (target at {_connection.Portal}, login to {TargetText})");
        }
        catch (IOException e) when (e is not LoginException and not ProtocolException)
        {
            throw new LoginException($"connection to {_connection.Portal} lost during login: {e.Message}")
                { ChapAlgorithmListRefused = ChapAlgorithmsPending };
        }
    }

    private string TargetText => _options.TargetName ?? "the discovery service";
    private IReadOnlyList<int> ChapOffer => _options.ChapAlgorithms ?? Chap.Preferred;

    /// <summary>We offered several CHAP algorithms and the target has not chosen one yet: a failure now may be its refusal of the list.</summary>
    private bool ChapAlgorithmsPending => _chap == ChapStep.AlgorithmsSent && ChapOffer.Count > 1;

    private async Task<LoginResult> NegotiateAsync(CancellationToken ct)
    {
        var stage = LoginStage.SecurityNegotiation;
        var keys = new TextKeys
        {
            { LoginKeys.InitiatorName, _options.InitiatorName },
            { LoginKeys.SessionType, _options.IsDiscovery ? "Discovery" : "Normal" },
        };
        if (!_options.IsDiscovery) keys.Add(LoginKeys.TargetName, _options.TargetName!);
        keys.Add(LoginKeys.AuthMethod, _options.Chap is null ? "None" : "CHAP,None");
        bool transit = _options.Chap is null;
        var next = LoginStage.OperationalNegotiation;

        using var response = new Pdu();
        for (int round = 0; round < MaxRounds; round++)
        {
            await SendAsync(stage, next, transit, keys, ct).ConfigureAwait(false);
            TextKeys answer = await ReceiveAsync(response, stage, ct).ConfigureAwait(false);
            bool targetTransit = response.Transit;
            var targetNext = response.NextStage;

            keys = stage == LoginStage.SecurityNegotiation
                ? HandleSecurityAnswer(answer, targetTransit)
                : HandleOperationalAnswer(answer);

            if (targetTransit)
            {
                if (stage == LoginStage.SecurityNegotiation && _options.Chap is not null && _chapChosen && _chap != ChapStep.Done)
                    throw new LoginException($"target {TargetText} ended authentication before CHAP completed");
                if (targetNext == LoginStage.FullFeaturePhase)
                {
                    if (_options.Chap is { IsMutual: true } && _chap != ChapStep.Done && _chapChosen)
                        throw new LoginException($"target {TargetText} skipped mutual CHAP authentication");
                    return Finish();
                }
                if (targetNext == LoginStage.OperationalNegotiation && stage == LoginStage.SecurityNegotiation)
                {
                    stage = LoginStage.OperationalNegotiation;
                    keys = OperationalProposals();
                }
                else if (targetNext != stage)
                    throw new ProtocolException($"target moved the login to an invalid stage {targetNext}");
            }
            if (stage == LoginStage.OperationalNegotiation)
            {
                transit = true;
                next = LoginStage.FullFeaturePhase;
            }
            else
            {
                // Security stage: ask to move on only once authentication is settled.
                transit = _options.Chap is null || !_chapChosen || _chap == ChapStep.ResponseSent;
                next = LoginStage.OperationalNegotiation;
            }
        }
        throw new LoginException($"login to {TargetText} did not finish after {MaxRounds} exchanges");
    }

    private LoginResult Finish()
    {
        _parameters.InitiatorMaxRecvDataSegmentLength = _options.DeclaredMaxRecvDataSegmentLength;
        return new LoginResult(_parameters, _tsih, _cmdSN, _expStatSN, _maxCmdSN, _options.Isid);
    }

    private TextKeys HandleSecurityAnswer(TextKeys answer, bool targetTransit)
    {
        var reply = new TextKeys();
        foreach (var (key, value) in answer)
        {
            switch (key)
            {
                case LoginKeys.AuthMethod:
                    if (value == "CHAP" && _options.Chap is not null)
                    {
                        _chapChosen = true;
                    }
                    else if (value == "None") { }
                    else throw new LoginException($"target {TargetText} wants authentication method {value}, which is not configured (set CHAP credentials for this node)");
                    break;
                case LoginKeys.ChapAlgorithm:
                    if (!int.TryParse(value, out _chapAlgorithm) || !ChapOffer.Contains(_chapAlgorithm))
                        throw new LoginException($"target {TargetText} accepts none of the CHAP algorithms offered ({string.Join(",", ChapOffer.Select(Chap.Name))})")
                            { ChapAlgorithmListRefused = ChapOffer.Count > 1 };
                    break;
                case LoginKeys.ChapIdentifier or LoginKeys.ChapChallenge or LoginKeys.ChapName or LoginKeys.ChapResponse:
                    break;
                case LoginKeys.TargetPortalGroupTag or LoginKeys.TargetAlias or LoginKeys.TargetAddress:
                    if (LoginKeys.Find(key) is { IsNumeric: true } numeric &&
                        (!KeyValues.TryParseNumber(value, out long n) || n < numeric.Min || n > numeric.Max))
                        throw new LoginException($"target at {_connection.Portal} declared {key}={value}, which is out of range");
                    _parameters.Apply(key, value, fromTarget: true);
                    break;
                default:
                    reply.Add(key, KeyValues.NotUnderstood);
                    break;
            }
        }

        if (_chapChosen && _chap == ChapStep.NotStarted)
        {
            reply.Add(LoginKeys.ChapAlgorithm, string.Join(",", ChapOffer));
            _chap = ChapStep.AlgorithmsSent;
        }
        else if (_chap == ChapStep.AlgorithmsSent)
        {
            reply.AddRange(ChapResponse(answer));
            _chap = ChapStep.ResponseSent;
        }
        else if (_chap == ChapStep.ResponseSent)
        {
            if (_options.Chap!.IsMutual) VerifyTarget(answer);
            _chap = ChapStep.Done;
        }
        else if (_options.Chap is { IsMutual: true } && !_chapChosen && targetTransit)
        {
            throw new LoginException($"target {TargetText} did not agree to CHAP, but mutual CHAP is configured");
        }
        return reply;
    }

    private TextKeys ChapResponse(TextKeys answer)
    {
        var credentials = _options.Chap!;
        if (answer[LoginKeys.ChapIdentifier] is not { } idText || !Chap.TryParseIdentifier(idText, out byte identifier) || answer[LoginKeys.ChapChallenge] is not { } challengeText)
            throw new LoginException($"target {TargetText} sent an incomplete CHAP challenge");
        byte[] challenge = Chap.Decode(challengeText);
        var reply = new TextKeys
        {
            { LoginKeys.ChapName, credentials.User },
            { LoginKeys.ChapResponse, Chap.Encode(Chap.Response(_chapAlgorithm, identifier, credentials.Secret, challenge)) },
        };
        if (credentials.IsMutual)
        {
            _mutualIdentifier = (byte)RandomNumberGenerator.GetInt32(256);
            _mutualChallenge = Chap.NewChallenge(_chapAlgorithm);
            if (_mutualChallenge.AsSpan().SequenceEqual(challenge)) throw new LoginException("target reflected our CHAP challenge");
            reply.Add(LoginKeys.ChapIdentifier, Chap.FormatIdentifier(_mutualIdentifier));
            reply.Add(LoginKeys.ChapChallenge, Chap.Encode(_mutualChallenge));
        }
        return reply;
    }

    private void VerifyTarget(TextKeys answer)
    {
        var credentials = _options.Chap!;
        if (answer[LoginKeys.ChapName] is not { } name || answer[LoginKeys.ChapResponse] is not { } responseText)
            throw new LoginException($"target {TargetText} did not answer the mutual CHAP challenge");
        if (credentials.TargetUser is not null && name != credentials.TargetUser)
            throw new LoginException($"mutual CHAP failed: target {TargetText} named itself \"{name}\", expected \"{credentials.TargetUser}\"");
        byte[] expected = Chap.Response(_chapAlgorithm, _mutualIdentifier, credentials.TargetSecret!, _mutualChallenge!);
        if (!CryptographicOperations.FixedTimeEquals(expected, Chap.Decode(responseText)))
            throw new LoginException($"mutual CHAP failed: target {TargetText} does not know the target secret");
    }

    private TextKeys OperationalProposals()
    {
        var keys = new TextKeys();
        foreach (string key in _options.OfferedKeys)
        {
            string value = _options.OperationalValue(key) ?? throw new InvalidOperationException($"no value of ours for {key}");
            keys.Add(key, value);
            if (LoginKeys.Find(key)?.Kind != KeyKind.Declarative) _pendingOffers[key] = value;
        }
        return keys;
    }

    private TextKeys HandleOperationalAnswer(TextKeys answer)
    {
        var reply = new TextKeys();
        foreach (var (key, value) in answer)
        {
            var definition = LoginKeys.Find(key);
            if (_pendingOffers.Remove(key, out var offered))
            {
                var (settled, error) = Negotiation.Settle(definition!, offered, value);
                if (error is not null) throw new LoginException($"negotiation with {TargetText} failed: {error}");
                if (settled is not null) _parameters.Apply(key, settled, fromTarget: false);
                else if (value == KeyValues.Reject && offered == KeyValues.Crc32c)
                    throw new LoginException($"target {TargetText} refuses {key}=CRC32C, which this node requires");
            }
            else if (definition is null)
            {
                if (!KeyValues.IsSpecial(value)) reply.Add(key, KeyValues.NotUnderstood);
            }
            else if (definition.Kind == KeyKind.Declarative)
            {
                if (definition.IsNumeric && (!KeyValues.TryParseNumber(value, out long n) || n < definition.Min || n > definition.Max))
                    throw new LoginException($"negotiation with {TargetText} failed: {key}={value} is out of range");
                _parameters.Apply(key, value, fromTarget: true);
            }
            else if (!KeyValues.IsSpecial(value))
            {
                string ours = Negotiation.Answer(definition, value, _options.OperationalValue(key) ?? KeyValues.NotUnderstood);
                reply.Add(key, ours);
                if (!KeyValues.IsSpecial(ours)) _parameters.Apply(key, ours, fromTarget: false);
            }
        }
        return reply;
    }

    private async Task SendAsync(LoginStage stage, LoginStage next, bool transit, TextKeys keys, CancellationToken ct)
    {
        using var pdu = new Pdu(Opcode.LoginRequest, immediate: true, final: false);
        pdu.Stages = new LoginStages(stage, next, transit);
        pdu.VersionMax = 0;
        pdu.VersionMin = 0;
        _options.Isid.CopyTo(pdu.Isid);
        pdu.Tsih = _tsih;
        pdu.InitiatorTaskTag = LoginItt;
        pdu.ConnectionId = _options.ConnectionId;
        pdu.CmdSN = _cmdSN;
        pdu.ExpStatSN = _expStatSN;
        pdu.SetData(keys.Encode());
        await _connection.SendAsync(pdu, ct).ConfigureAwait(false);
    }

    /// <summary>Receives one Login response, following the Continue bit for texts split over several PDUs.</summary>
    private async Task<TextKeys> ReceiveAsync(Pdu response, LoginStage stage, CancellationToken ct)
    {
        var text = new MemoryStream();
        while (true)
        {
            if (!await _connection.ReceiveAsync(response, ct).ConfigureAwait(false))
                throw new EndOfStreamException();
            if (response.Opcode == Opcode.Reject)
                throw new LoginException($"target at {_connection.Portal} rejected the login request (reason 0x{response.RejectReason:x2})");
            if (response.Opcode != Opcode.LoginResponse)
                throw new ProtocolException($"expected a Login response, got {response.Opcode}");
            if (response.InitiatorTaskTag != LoginItt)
                throw new ProtocolException("Login response carries a foreign task tag");
            TrackSequence(response);
            ushort status = response.LoginStatusCode;
            if (status != 0) ThrowForStatus(status, response);
            if (text.Length + response.DataSegmentLength > MaxLoginText)
                throw new ProtocolException($"login text from the target is longer than {MaxLoginText} bytes");
            text.Write(response.Data.Span);
            if (!response.Continue) break;
            // Continue bit: ask for the rest with an empty request in the same stage.
            await SendAsync(stage, stage, transit: false, new TextKeys(), ct).ConfigureAwait(false);
        }
        if (response.VersionActive != 0) throw new LoginException($"target at {_connection.Portal} speaks iSCSI version {response.VersionActive}, not 0");
        _tsih = response.Tsih;
        return TextKeys.Parse(text.ToArray());
    }

    private void TrackSequence(Pdu response)
    {
        if (_firstResponse || response.StatSN == _expStatSN)
        {
            _expStatSN = response.StatSN + 1;
            _firstResponse = false;
        }
        _cmdSN = response.ExpCmdSN;
        _maxCmdSN = response.MaxCmdSN;
    }

    private void ThrowForStatus(ushort status, Pdu response)
    {
        if (status >> 8 == LoginStatus.Redirection)
        {
            var keys = TextKeys.Parse(response.Data.Span);
            string address = keys[LoginKeys.TargetAddress] ?? throw new LoginException($"target {TargetText} redirected the login without saying where");
            throw new LoginRedirectException($"target moved: {TargetText} is now at {address}", address, status);
        }
        // Some targets refuse the list itself; others (tgtd) pick 7 but compute it as SHA-1, an old draft's
        // numbering, and then refuse our SHA-256 answer. Either way MD5 alone is worth one more try.
        bool refusedChapList = _options.Chap is not null && ChapOffer.Count > 1 && status >> 8 == LoginStatus.InitiatorError &&
            (_chap == ChapStep.AlgorithmsSent || (_chap == ChapStep.ResponseSent && _chapAlgorithm != Chap.Md5));
        if (status == LoginStatus.AuthenticationFailure && _options.Chap is null)
            throw new LoginException($"authentication failure: target {TargetText} requires CHAP, and no credentials are configured for initiator {_options.InitiatorName}", status);
        // Targets answer a wrong user name and a wrong secret with the same status: name the user, so the one
        // that was sent can be compared with the target's configuration.
        if (status == LoginStatus.AuthenticationFailure)
            throw new LoginException($"authentication failure: target {TargetText} did not accept CHAP user \"{_options.Chap!.User}\" with the secret given (check the CHAP user name and secret)", status)
                { ChapAlgorithmListRefused = refusedChapList };
        throw new LoginException(LoginStatus.Describe(status, _options.TargetName, _options.InitiatorName), status)
            { ChapAlgorithmListRefused = refusedChapList };
    }

}
