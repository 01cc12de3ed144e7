using System.IO.Compression;
using System.Text;

namespace DaRcot.Rec.Tests.Checkpoints;

/// <summary>Writes pickle opcodes by hand (protocol 2 subset), so tests can craft checkpoints byte by byte.</summary>
internal sealed class PickleBytes
{
    private readonly List<byte> _b = new();

    public PickleBytes Proto(byte v = 2) => Op(0x80, v);
    public PickleBytes Global(string module, string name) => Op((byte)'c').Ascii(module + "\n" + name + "\n");
    public PickleBytes StackGlobal(string module, string name) => Str(module).Str(name).Op(0x93);
    public PickleBytes Str(string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        Op((byte)'X');
        _b.AddRange(BitConverter.GetBytes(bytes.Length));
        _b.AddRange(bytes);
        return this;
    }
    public PickleBytes Int(int v) => v is >= 0 and < 256 ? Op((byte)'K', (byte)v) : Op((byte)'J').Raw(BitConverter.GetBytes(v));
    public PickleBytes Mark() => Op((byte)'(');
    public PickleBytes Tuple() => Op((byte)'t');
    public PickleBytes Tuple1() => Op(0x85);
    public PickleBytes Tuple2() => Op(0x86);
    public PickleBytes EmptyTuple() => Op((byte)')');
    public PickleBytes EmptyDict() => Op((byte)'}');
    public PickleBytes EmptyList() => Op((byte)']');
    public PickleBytes Append() => Op((byte)'a');
    public PickleBytes SetItem() => Op((byte)'s');
    public PickleBytes None() => Op((byte)'N');
    public PickleBytes False() => Op(0x89);
    public PickleBytes Reduce() => Op((byte)'R');
    public PickleBytes PersId() => Op((byte)'Q');
    public PickleBytes Stop() => Op((byte)'.');
    public PickleBytes NewObj() => Op(0x81);
    public PickleBytes Build() => Op((byte)'b');
    public PickleBytes Put(byte slot) => Op((byte)'q', slot);
    public PickleBytes Get(byte slot) => Op((byte)'h', slot);
    public PickleBytes OrderedDict() => Global("collections", "OrderedDict").EmptyTuple().Reduce();

    /// <summary>Starts an nn.Module object the way torch pickles one: NEWOBJ of the class, then a __dict__ to BUILD.
    /// The caller adds "_parameters", "_buffers", ... entries with SETITEM and ends with <see cref="Build"/>.</summary>
    public PickleBytes Module(string module, string cls, byte? memo = null)
    {
        Global(module, cls).EmptyTuple().NewObj();
        if (memo is { } slot) Put(slot);
        return EmptyDict();
    }

    /// <summary>_rebuild_tensor_v2(persistent storage key, offset, size, stride, False, OrderedDict()).</summary>
    public PickleBytes Tensor(string storageType, string key, int storageNumel, int offset, int[] size, int[] stride)
    {
        Global("torch._utils", "_rebuild_tensor_v2").Mark();
        Mark().Str("storage").Global("torch", storageType).Str(key).Str("cpu").Int(storageNumel).Tuple().PersId();
        Int(offset);
        Mark(); foreach (var s in size) Int(s); Tuple();
        Mark(); foreach (var s in stride) Int(s); Tuple();
        False().Global("collections", "OrderedDict").EmptyTuple().Reduce();
        return Tuple().Reduce();
    }

    public PickleBytes Op(byte op, params byte[] args)
    {
        _b.Add(op);
        _b.AddRange(args);
        return this;
    }

    public PickleBytes Raw(byte[] bytes)
    {
        _b.AddRange(bytes);
        return this;
    }

    private PickleBytes Ascii(string s)
    {
        _b.AddRange(Encoding.ASCII.GetBytes(s));
        return this;
    }

    public byte[] ToArray() => _b.ToArray();

    /// <summary>Writes a torch-style zip: archive/data.pkl plus archive/data/&lt;key&gt; records.</summary>
    public static void WriteZip(string path, byte[] pickle, IReadOnlyDictionary<string, byte[]>? storages = null)
    {
        using var fs = File.Create(path);
        using var zip = new ZipArchive(fs, ZipArchiveMode.Create);
        void Add(string name, byte[] data)
        {
            using var s = zip.CreateEntry(name, CompressionLevel.NoCompression).Open();
            s.Write(data);
        }
        Add("archive/data.pkl", pickle);
        foreach (var (k, v) in storages ?? new Dictionary<string, byte[]>()) Add($"archive/data/{k}", v);
        Add("archive/version", "3\n"u8.ToArray());
    }

    public static byte[] Floats(params float[] values) => values.SelectMany(BitConverter.GetBytes).ToArray();
}
