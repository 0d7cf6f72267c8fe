namespace IscsiUp.MountManager; internal static class Placeholder {}
