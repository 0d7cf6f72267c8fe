using IscsiUp.MountManager.Mount;

namespace IscsiUp.MountManager.Tests.Mount;

public sealed class FindmntJsonTests
{
    [Fact]
    public void Reads_lists_trees_and_null_uuids()
    {
        const string Json = """
            {
               "filesystems": [
                  {"source": "/dev/vda", "target": "/", "fstype": "ext4", "uuid": null,
                   "children": [
                      {"source": "/dev/loop0", "target": "/tmp/m t", "fstype": "xfs", "uuid": "b4e94fdc-1f36-4138-9f0f-f387ed870dc2"}
                   ]}
               ]
            }
            """;

        var mounts = FindmntJson.Parse(Json);

        Assert.Equal(
            [
                new MountedFilesystem("/dev/vda", "/", "ext4", null),
                new MountedFilesystem("/dev/loop0", "/tmp/m t", "xfs", "b4e94fdc-1f36-4138-9f0f-f387ed870dc2"),
            ],
            mounts);
    }

    [Fact]
    public void Empty_output_means_nothing_mounted() => Assert.Empty(FindmntJson.Parse(""));
}
