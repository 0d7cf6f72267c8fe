using System.Text.Json.Serialization;

namespace IscsiUp.Cli.Daemon;

/// <summary>
/// One request over the control socket, as one JSON line: "login" (with <see cref="Login"/>), "logout",
/// "show" or "rescan" (<see cref="Session"/> = the session id) or "ping". The daemon answers with lines of <see cref="ControlReply"/>.
/// </summary>
public sealed record ControlRequest(string Op, LoginRequest? Login = null, int? Session = null)
{
    public const string LoginOp = "login";
    public const string LogoutOp = "logout";
    public const string PingOp = "ping";
    /// <summary>"show": the <see cref="Sessions.SessionDetails"/> of <see cref="Session"/>, as one JSON "out" line.</summary>
    public const string ShowOp = "show";
    /// <summary>"rescan": <see cref="Session"/> brings its LUNs in step with the target; one "out" line per change.</summary>
    public const string RescanOp = "rescan";
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, UseStringEnumConverter = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ControlRequest))]
[JsonSerializable(typeof(Sessions.SessionDetails))]
internal sealed partial class ControlJson : JsonSerializerContext;
