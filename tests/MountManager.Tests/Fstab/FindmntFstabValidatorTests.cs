using System.Text;
using IscsiUp.MountManager.Fstab;

namespace IscsiUp.MountManager.Tests.Fstab;

public sealed class FindmntFstabValidatorTests
{
    [Fact]
    public void Errors_are_keyed_by_mount_point_and_parse_errors_by_line_text()
    {
        const string Stdout =
            "/tmp/nonexist-dir\n" +
            "   [E] unreachable on boot required target: No such file or directory\n" +
            "   [E] unreachable on boot required source: UUID=x\n" +
            "/tmp/mnt x\n" +
            "   [W] target specified more than once\n" +
            "   [E] unreachable on boot required source: UUID=y\n";
        const string Stderr = "findmnt: /etc/fstab: parse error at line 2 -- ignored\n\n1 parse error, 3 errors, 0 warnings\n";
        var file = Encoding.UTF8.GetBytes("# c\nonlyonefield\n");

        var verification = FindmntFstabValidator.Parse(Stdout, Stderr, file);

        Assert.Equal(
            [
                "/tmp/nonexist-dir: unreachable on boot required target: No such file or directory",
                "/tmp/nonexist-dir: unreachable on boot required source: UUID=x",
                "/tmp/mnt x: unreachable on boot required source: UUID=y",
                "parse error: onlyonefield",
            ],
            verification.Errors);
    }

    [Fact]
    public void New_errors_are_those_the_baseline_did_not_have()
    {
        var before = new FstabVerification(["a", "b"]);
        var after = new FstabVerification(["b", "c", "a", "a"]);

        Assert.Equal(["c", "a"], after.NewErrorsSince(before));
        Assert.Empty(before.NewErrorsSince(after));
    }
}
