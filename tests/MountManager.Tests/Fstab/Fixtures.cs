namespace IscsiUp.MountManager.Tests.Fstab;

/// <summary>fstabs as they are found on real machines, quirks included.</summary>
public static class Fixtures
{
    public const string Uuid = "0b6c3f5e-2a41-4d7e-9c1b-8f2e6a4d9c30";
    public const string OtherUuid = "5d8e1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b";

    /// <summary>Debian-style header, tabs and spaces mixed, quoted UUID, LABEL, PARTUUID, swap file and
    /// swap partition, a bind mount, an NFS line with _netdev, an escaped space, trailing whitespace, a
    /// whitespace-only line and duplicated spaces.</summary>
    public const string Nasty =
        "# /etc/fstab: static file system information.\n" +
        "#\n" +
        "# <file system>\t<mount point>\t<type>\t<options>\t<dump>\t<pass>\n" +
        "UUID=3f1c2a4e-8d2b-4c9e-9f1a-0b2c3d4e5f60\t/\text4\terrors=remount-ro\t0\t1\n" +
        "UUID=\"7A3B-1C2D\"  /boot/efi  vfat  umask=0077  0  1\n" +
        "LABEL=data   /srv/data xfs  defaults,noatime 0 2\n" +
        "PARTUUID=0d5f6a7b-01 /var/log   ext4 defaults 0 2\n" +
        "\n" +
        "/swapfile none swap sw 0 0\n" +
        "UUID=aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee none swap sw 0 0\n" +
        "/srv/data/www\t/var/www\tnone\tbind\t0\t0\n" +
        "nas.example.com:/export/home /home nfs rw,_netdev,vers=4.2 0 0\n" +
        "/dev/sdc1 /mnt/My\\040Photos ext4 defaults,nofail 0 2   \n" +
        "   \t \n" +
        "tmpfs   /tmp    tmpfs   defaults,size=2G        0       0\n";

    /// <summary>The line iscsi-up writes for <see cref="Uuid"/> on /iscsi.</summary>
    public const string OurLine = "UUID=" + Uuid + " /iscsi xfs defaults,_netdev 0 0";

    public const string NoTrailingNewline =
        "# minimal\n" +
        "UUID=3f1c2a4e-8d2b-4c9e-9f1a-0b2c3d4e5f60 / xfs defaults 0 0";

    public const string Crlf =
        "# edited on Windows\r\n" +
        "UUID=3f1c2a4e-8d2b-4c9e-9f1a-0b2c3d4e5f60 / xfs defaults 0 0\r\n" +
        "LABEL=swap none swap sw 0 0\r\n";
}
