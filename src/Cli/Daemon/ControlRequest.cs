using System.Text.Json.Serialization;

namespace IscsiUp.Cli.Daemon;

/// <summary>
/// One request over the control socket, as one JSON line: "login" (with <see cref="Login"/>), "logout"
/// (<see cref="Session"/> = the session id) or "ping". The daemon answers with lines of <see cref="ControlReply"/>.
/// </summary>
public sealed record ControlRequest(string Op, LoginRequest? Login = null, int? Session = null)
{
    public const string LoginOp = "login";
    public const string LogoutOp = "logout";
    public const string PingOp = "ping";
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, UseStringEnumConverter = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ControlRequest))]
internal sealed partial class ControlJson : JsonSerializerContext;
