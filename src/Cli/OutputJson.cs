using System.Text.Json.Serialization;

namespace IscsiUp.Cli;

/// <summary>
/// What `--json` prints (discover, session, node): camelCase keys, absent values left out, indented for
/// people and scripts alike. README's "JSON output" section documents the keys; they only ever grow.
/// </summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(Sessions.SessionDetails[]))]
[JsonSerializable(typeof(Commands.DiscoveredPortal[]))]
[JsonSerializable(typeof(Commands.NodeView[]))]
internal sealed partial class OutputJson : JsonSerializerContext;
