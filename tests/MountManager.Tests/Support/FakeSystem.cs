using System.Text;
using System.Text.Json;
using IscsiUp.MountManager.Mount;
using IscsiUp.MountManager.Tools;

namespace IscsiUp.MountManager.Tests.Support;

/// <summary>
/// A scripted Linux box for <see cref="ICommandRunner"/>: devices with signatures, a mount table, and
/// blkid/mkfs/wipefs/udevadm/findmnt/mount/umount acting on them. Every call is recorded in order.
/// </summary>
public sealed class FakeSystem : ICommandRunner
{
    public sealed class Device
    {
        public string? Type { get; set; }
        public string? Uuid { get; set; }
        public string? PartitionTable { get; set; }
    }

    public Dictionary<string, Device> Devices { get; } = new(StringComparer.Ordinal);

    public List<MountedFilesystem> Mounts { get; } = [];

    public HashSet<string> MissingTools { get; } = [];

    /// <summary>Each call as "tool arg arg…".</summary>
    public List<string> Calls { get; } = [];

    /// <summary>Return a result to replace the normal behaviour of a call (e.g. a failing mount).</summary>
    public Func<string, IReadOnlyList<string>, CommandResult?>? Override { get; set; }

    public IEnumerable<string> CallsTo(string tool) => Calls.Where(call => call.Split(' ')[0] == tool);

    public bool IsAvailable(string tool) => !MissingTools.Contains(tool);

    public Task<CommandResult> RunAsync(
        string tool, IReadOnlyList<string> arguments, TimeSpan timeout, Action<string>? onOutputLine = null, CancellationToken cancellationToken = default)
    {
        Assert.True(timeout > TimeSpan.Zero && timeout < TimeSpan.FromHours(2), $"{tool} runs without a sensible time limit ({timeout})");
        if (MissingTools.Contains(tool)) throw new ToolNotFoundException(tool, "something");
        Calls.Add(string.Join(' ', [tool, .. arguments]));
        var result = Override?.Invoke(tool, arguments) ?? Behave(tool, arguments);
        foreach (var line in (result.StandardOutput + result.StandardError).Split('\n', StringSplitOptions.RemoveEmptyEntries)) onOutputLine?.Invoke(line);
        return Task.FromResult(result);
    }

    private CommandResult Behave(string tool, IReadOnlyList<string> args)
    {
        switch (tool)
        {
            case "blkid":
            {
                var device = Get(args[^1]);
                if (device.PartitionTable is { } pt) return Ok($"DEVNAME={args[^1]}\nPTTYPE={pt}\n");
                if (device.Type is null) return new CommandResult(2, "", "");
                return Ok($"DEVNAME={args[^1]}\nUUID={device.Uuid}\nBLOCK_SIZE=512\nTYPE={device.Type}\nUSAGE=filesystem\n");
            }
            case "mkfs.xfs" or "mkfs.ext4":
            {
                var device = Get(args[^1]);
                device.PartitionTable = null;
                device.Type = tool[5..];
                device.Uuid = Guid.NewGuid().ToString();
                return Ok($"meta-data={args[^1]} isize=512\nwriting superblocks\n");
            }
            case "wipefs":
            {
                var device = Get(args[^1]);
                device.PartitionTable = device.Type = device.Uuid = null;
                return Ok("");
            }
            case "udevadm":
                return Ok("");
            case "findmnt":
            {
                var index = args.ToList().FindIndex(a => a is "--mountpoint" or "--source");
                var key = args[index + 1];
                var matches = args[index] == "--mountpoint"
                    ? Mounts.Where(m => m.Target == key).ToList()
                    : Mounts.Where(m => m.Source == key || (key.StartsWith("UUID=", StringComparison.Ordinal) && m.Uuid == key[5..])).ToList();
                return matches.Count == 0 ? new CommandResult(1, "", "") : Ok(Json(matches));
            }
            case "mount":
            {
                var source = args[^2];
                var target = args[^1];
                var device = source.StartsWith("UUID=", StringComparison.Ordinal)
                    ? Devices.First(d => d.Value.Uuid == source[5..]).Key
                    : source;
                var state = Get(device);
                Mounts.Add(new MountedFilesystem(device, target, state.Type ?? "", state.Uuid));
                return Ok("");
            }
            case "umount":
            {
                var removed = Mounts.RemoveAll(m => m.Target == args[^1]);
                return removed > 0 ? Ok("") : new CommandResult(32, "", $"umount: {args[^1]}: not mounted.\n");
            }
            default:
                throw new InvalidOperationException($"FakeSystem does not know {tool}");
        }
    }

    private Device Get(string path)
    {
        if (!Devices.TryGetValue(path, out var device)) Devices[path] = device = new Device();
        return device;
    }

    private static CommandResult Ok(string stdout) => new(0, stdout, "");

    private static string Json(IEnumerable<MountedFilesystem> mounts)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            writer.WriteStartArray("filesystems");
            foreach (var mount in mounts)
            {
                writer.WriteStartObject();
                writer.WriteString("source", mount.Source);
                writer.WriteString("target", mount.Target);
                writer.WriteString("fstype", mount.FsType);
                if (mount.Uuid is null) writer.WriteNull("uuid");
                else writer.WriteString("uuid", mount.Uuid);
                writer.WriteEndObject();
            }
            writer.WriteEndArray();
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
