using System.Text.Json;

namespace IscsiUp.MountManager.Mount;

/// <summary>Reads <c>findmnt -J -o SOURCE,TARGET,FSTYPE,UUID</c> output (tree or list) without reflection.</summary>
public static class FindmntJson
{
    public static IReadOnlyList<MountedFilesystem> Parse(string json)
    {
        var found = new List<MountedFilesystem>();
        if (string.IsNullOrWhiteSpace(json)) return found;
        using var document = JsonDocument.Parse(json);
        if (document.RootElement.TryGetProperty("filesystems", out var filesystems)) Collect(filesystems, found);
        return found;
    }

    private static void Collect(JsonElement array, List<MountedFilesystem> found)
    {
        if (array.ValueKind != JsonValueKind.Array) return;
        foreach (var item in array.EnumerateArray())
        {
            found.Add(new MountedFilesystem(
                Text(item, "source") ?? "", Text(item, "target") ?? "", Text(item, "fstype") ?? "", Text(item, "uuid")));
            if (item.TryGetProperty("children", out var children)) Collect(children, found);
        }
    }

    private static string? Text(JsonElement item, string name) =>
        item.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
