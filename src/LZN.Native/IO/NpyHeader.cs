using System.Globalization;

namespace LZN.Native.IO;

/// <summary>
/// The header of a .npy file: a Python dict literal with exactly the keys 'descr' (a dtype string), 'fortran_order'
/// (True or False) and 'shape' (a tuple of non-negative integers), padded with spaces and ended by a newline. Parsed
/// as that literal, not searched with patterns, so a key named twice, an unknown key, a structured dtype or text
/// after the closing brace is an error naming what is wrong rather than a guess.
/// </summary>
internal sealed record NpyHeader(string Descr, bool FortranOrder, int[] Shape, long ElementCount)
{
    private static readonly string[] Keys = ["descr", "fortran_order", "shape"];

    public static NpyHeader Parse(string text, string sourceName)
    {
        var reader = new Reader(text, sourceName);
        string? descr = null;
        bool? fortran = null;
        int[]? shape = null;
        long count = 1;
        reader.Expect('{');
        while (!reader.TryTake('}'))
        {
            string key = reader.String("a key");
            reader.Expect(':');
            switch (key)
            {
                case "descr":
                    reader.Once(descr is null, key);
                    descr = reader.Peek() == '[' ? throw reader.Fault("structured dtypes (a list in 'descr') are not supported; save a plain float32 or float64 array")
                        : reader.String("the dtype string of 'descr'");
                    break;
                case "fortran_order":
                    reader.Once(fortran is null, key);
                    fortran = reader.Boolean();
                    break;
                case "shape":
                    reader.Once(shape is null, key);
                    (shape, count) = reader.Shape();
                    break;
                default:
                    throw reader.Fault($"unknown key '{key}' (a .npy header holds exactly {string.Join(", ", Keys)})");
            }
            if (!reader.TryTake(','))
            {
                reader.Expect('}');
                break;
            }
        }
        reader.ExpectEnd();
        if (descr is null || fortran is null || shape is null)
        {
            string missing = string.Join(", ", Keys.Where(key => key switch { "descr" => descr is null, "fortran_order" => fortran is null, _ => shape is null }));
            throw new NpyFormatException(sourceName, $"the header has no '{missing}' entry: {text.Trim()}");
        }
        return new NpyHeader(descr, fortran.Value, shape, count);
    }

    /// <summary>A cursor over the header text; every fault names the file and the character position.</summary>
    private sealed class Reader(string text, string sourceName)
    {
        private int _position;

        public NpyFormatException Fault(string problem) =>
            new(sourceName, $"bad .npy header at character {_position}: {problem}.");

        public char Peek()
        {
            SkipSpace();
            return _position < text.Length ? text[_position] : '\0';
        }

        public bool TryTake(char expected)
        {
            if (Peek() != expected)
                return false;
            _position++;
            return true;
        }

        public void Expect(char expected)
        {
            if (!TryTake(expected))
                throw Fault($"expected '{expected}', found {Describe()}");
        }

        public void Once(bool first, string key)
        {
            if (!first)
                throw Fault($"the key '{key}' appears twice");
        }

        /// <summary>Only the padding numpy writes (spaces, then a newline) may follow the closing brace.</summary>
        public void ExpectEnd()
        {
            if (Peek() != '\0')
                throw Fault($"unexpected {Describe()} after the closing brace");
        }

        public string String(string what)
        {
            char quote = Peek();
            if (quote is not ('\'' or '"'))
                throw Fault($"expected {what} in quotes, found {Describe()}");
            int end = text.IndexOf(quote, _position + 1);
            if (end < 0)
                throw Fault("a string is not closed");
            string value = text[(_position + 1)..end];
            if (value.Contains('\\', StringComparison.Ordinal))
                throw Fault($"escape sequences in '{value}' are not supported");
            _position = end + 1;
            return value;
        }

        public bool Boolean()
        {
            SkipSpace();
            foreach (var (word, value) in new[] { ("True", true), ("False", false) })
            {
                if (string.CompareOrdinal(text, _position, word, 0, word.Length) == 0)
                {
                    _position += word.Length;
                    return value;
                }
            }
            throw Fault($"'fortran_order' must be True or False, found {Describe()}");
        }

        /// <summary>A tuple of non-negative integers ("()", "(5,)", "(2, 3)"; Python 2's "3L" too) and its element count.</summary>
        public (int[] Shape, long Count) Shape()
        {
            Expect('(');
            var dimensions = new List<int>();
            long count = 1;
            bool overflow = false;
            while (!TryTake(')'))
            {
                SkipSpace();
                int start = _position;
                while (_position < text.Length && char.IsAsciiDigit(text[_position]))
                    _position++;
                if (_position == start)
                    throw Fault($"a shape holds non-negative integers, found {Describe()}");
                string digits = text[start.._position];
                if (_position < text.Length && text[_position] == 'L')
                    _position++;
                if (!int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out int dimension))
                    throw Fault($"dimension {dimensions.Count} of the shape ({digits}) is larger than {int.MaxValue}");
                dimensions.Add(dimension);
                // The count is only compared against array limits: past one array's size it stops mattering by how much.
                overflow |= dimension != 0 && count > long.MaxValue / dimension;
                count = overflow ? long.MaxValue : count * dimension;
                if (!TryTake(','))
                {
                    Expect(')');
                    break;
                }
            }
            if (dimensions.Contains(0))
                count = 0;
            return ([.. dimensions], count);
        }

        private void SkipSpace()
        {
            while (_position < text.Length && text[_position] is ' ' or '\t' or '\n' or '\r')
                _position++;
        }

        private string Describe() =>
            _position >= text.Length ? "the end of the header" : $"'{text[_position]}'";
    }
}
