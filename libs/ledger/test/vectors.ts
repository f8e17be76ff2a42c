/**
 * Public RFC 6962 test vectors, copied as data (hex and base64 strings) with their sources.
 *
 * 1. transparency-dev/merkle, proof/verify_test.go (commit 02194e9afb6c1d95b5381350007963aa70fff472):
 *    `leaves`, `roots`, `inclusionProofs`, `consistencyProofs`. The same leaves and roots are quoted in
 *    shared/reference/audit-ledger.md. Inclusion vectors there number leaves from 1; we store 0-based.
 * 2. transparency-dev/merkle, testdata/{inclusion,consistency}/N/*.json: generated from (1) by the
 *    project's own mutation list; "happy path" files must verify, every other file ("wantErr": true)
 *    must be refused. We carry all happy paths and every mutation of set 2 of each kind.
 */

/** Leaf *data* (hex); the leaf hashes are SHA-256(0x00 ‖ data). */
export const LEAVES_HEX = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
];

/** ROOTS_HEX[i] = root of the tree of the first i leaves. */
export const ROOTS_HEX = [
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

export const INCLUSION_PROOFS: { index: number; size: number; proof: string[] }[] = [
  { index: 0, size: 1, proof: [] },
  {
    index: 0,
    size: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    index: 5,
    size: 8,
    proof: [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  { index: 2, size: 3, proof: ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125'] },
  {
    index: 1,
    size: 5,
    proof: [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
];

export const CONSISTENCY_PROOFS: { m: number; n: number; proof: string[] }[] = [
  { m: 1, n: 1, proof: [] },
  {
    m: 1,
    n: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    m: 6,
    n: 8,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  {
    m: 2,
    n: 5,
    proof: [
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
  {
    m: 6,
    n: 7,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
];

/** A file of testdata/inclusion (base64 hashes; `proof: null` in the JSON is []). */
export interface InclusionCase {
  desc: string;
  leafIdx: number;
  treeSize: number;
  root: string;
  leafHash: string;
  proof: string[];
  wantErr: boolean;
}

/** A file of testdata/consistency. */
export interface ConsistencyCase {
  desc: string;
  size1: number;
  size2: number;
  root1: string;
  root2: string;
  proof: string[];
  wantErr: boolean;
}

// Shorthands for the base64 hashes that recur in the testdata files.
const R8 = 'XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=';
const R6 = 'duZ9rbzfHhDht03cYIq9L5jfsW+851J3tSMqEn8gh+8=';
const L5 = 'QnGia+DYqE8L1UyMMC58s6O10fpngKQLzOKHNHfatlg=';
const I2 = [
  'vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms=',
  'yoVOoSjtBQtBs1/8G4e46yveRh6eO1WW7Oa51ZdaCuA=',
  '037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=',
];
const C2 = [
  'DrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72o=',
  'yoVOoSjtBQtBs1/8G4e46yveRh6eO1WW7Oa51ZdaCuA=',
  '037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=',
];
const SOME_HASH = 'q6yroAAAAAAAAAAAAAAAAAAAAAAAAAAAAGAGHgASNFY=';
const EMPTY_ROOT_B64 = '47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=';

const inc = (
  desc: string,
  leafIdx: number,
  treeSize: number,
  root: string,
  leafHash: string,
  proof: string[],
  wantErr = true,
): InclusionCase => ({
  desc,
  leafIdx,
  treeSize,
  root,
  leafHash,
  proof,
  wantErr,
});

export const INCLUSION_CASES: InclusionCase[] = [
  inc(
    '0/happy path',
    0,
    1,
    'bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=',
    'bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=',
    [],
    false,
  ),
  inc(
    '1/happy path',
    0,
    8,
    R8,
    'bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=',
    [
      'lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=',
      'Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=',
      'a0eq8p7jwq+a+Im8H7klTavTEXfxYjLdaqsDXKOb9uQ=',
    ],
    false,
  ),
  inc('2/happy path', 5, 8, R8, L5, I2, false),
  inc(
    '3/happy path',
    2,
    3,
    'rra8/idLcKFPsGel5VeCZNsPqbUa9eC6FZFY8yngbnc=',
    'ApjRIpBtz8EIkstTpzmS/FufST6kybrbJ7eRtBJ6f+c=',
    ['+sVCA+fMaWzw38tCySodnbr3CtnmIfS9jZhmLwDjwSU='],
    false,
  ),
  inc(
    '4/happy path',
    1,
    5,
    'Tju7H3tHjc/nH7YxYxUZo7yhLJrvyhYSv85ME6hiZNQ=',
    'lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=',
    [
      'bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=',
      'Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=',
      'vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms=',
    ],
    false,
  ),
  inc('2/empty root', 5, 8, EMPTY_ROOT_B64, L5, I2),
  inc('2/inserted component', 5, 8, R8, L5, [I2[0]!, SOME_HASH, I2[1]!, I2[2]!]),
  inc('2/leafIdx + 1', 6, 8, R8, L5, I2),
  inc('2/leafIdx - 1', 4, 8, R8, L5, I2),
  inc('2/leafIdx ^ 2', 7, 8, R8, L5, I2),
  inc('2/modified proof[0] bit 3', 5, 8, R8, L5, [
    'tBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms=',
    I2[1]!,
    I2[2]!,
  ]),
  inc('2/modified proof[1] bit 3', 5, 8, R8, L5, [
    I2[0]!,
    'woVOoSjtBQtBs1/8G4e46yveRh6eO1WW7Oa51ZdaCuA=',
    I2[2]!,
  ]),
  inc('2/modified proof[2] bit 3', 5, 8, R8, L5, [
    I2[0]!,
    I2[1]!,
    '237kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=',
  ]),
  inc('2/preceding garbage', 5, 8, R8, L5, ['', ...I2]),
  inc('2/preceding root', 5, 8, R8, L5, [R8, ...I2]),
  inc('2/random root', 5, 8, SOME_HASH, L5, I2),
  inc('2/removed component', 5, 8, R8, L5, I2.slice(0, 2)),
  inc('2/trailing garbage', 5, 8, R8, L5, [...I2, '']),
  inc('2/trailing root', 5, 8, R8, L5, [...I2, R8]),
  inc('2/treeSize * 2', 5, 16, R8, L5, I2),
  inc('2/treeSize div 2', 5, 4, R8, L5, I2),
  inc('2/wrong leaf', 5, 8, R8, 'V3JvbmdMZWFm', I2),
];

const con = (
  desc: string,
  size1: number,
  size2: number,
  root1: string,
  root2: string,
  proof: string[],
  wantErr = true,
): ConsistencyCase => ({
  desc,
  size1,
  size2,
  root1,
  root2,
  proof,
  wantErr,
});

export const CONSISTENCY_CASES: ConsistencyCase[] = [
  con(
    '0/happy path',
    1,
    1,
    'bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=',
    'bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=',
    [],
    false,
  ),
  con(
    '1/happy path',
    1,
    8,
    'bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=',
    R8,
    [
      'lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=',
      'Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=',
      'a0eq8p7jwq+a+Im8H7klTavTEXfxYjLdaqsDXKOb9uQ=',
    ],
    false,
  ),
  con('2/happy path', 6, 8, R6, R8, C2, false),
  con(
    '3/happy path',
    2,
    5,
    '+sVCA+fMaWzw38tCySodnbr3CtnmIfS9jZhmLwDjwSU=',
    'Tju7H3tHjc/nH7YxYxUZo7yhLJrvyhYSv85ME6hiZNQ=',
    ['Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=', 'vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms='],
    false,
  ),
  con(
    '4/happy path',
    6,
    7,
    R6,
    '3bib5AOAnjJXUNPSY814kpwpQreUKjS3fhIslZSnTIw=',
    [
      'DrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72o=',
      'sIaT7C5yFZcTBkHoIR5+7cy0wmQTlj7ubB4u0W/7Gl8=',
      '037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=',
    ],
    false,
  ),
  con('2/empty proof', 6, 8, R6, R8, []),
  con('2/modified proof[0] bit 4', 6, 8, R6, R8, [
    'HrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72o=',
    C2[1]!,
    C2[2]!,
  ]),
  con('2/modified proof[1] bit 4', 6, 8, R6, R8, [
    C2[0]!,
    '2oVOoSjtBQtBs1/8G4e46yveRh6eO1WW7Oa51ZdaCuA=',
    C2[2]!,
  ]),
  con('2/modified proof[2] bit 4', 6, 8, R6, R8, [
    C2[0]!,
    C2[1]!,
    'w37kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=',
  ]),
  con('2/preceding garbage', 6, 8, R6, R8, ['', ...C2]),
  con('2/preceding proof[0]', 6, 8, R6, R8, [C2[0]!, ...C2]),
  con('2/preceding root1', 6, 8, R6, R8, [R6, ...C2]),
  con('2/preceding root2', 6, 8, R6, R8, [R8, ...C2]),
  con('2/size1 + 1', 7, 8, R6, R8, C2),
  con('2/size1 - 1', 5, 8, R6, R8, C2),
  con('2/size1 ^ 2', 4, 8, R6, R8, C2),
  con('2/size2 * 2', 6, 16, R6, R8, C2),
  con('2/size2 div 2', 6, 4, R6, R8, C2),
  con('2/swapped roots', 6, 8, R8, R6, C2),
  con('2/trailing garbage', 6, 8, R6, R8, [...C2, '']),
  con('2/trailing root1', 6, 8, R6, R8, [...C2, R6]),
  con('2/trailing root2', 6, 8, R6, R8, [...C2, R8]),
  con('2/truncated proof', 6, 8, R6, R8, C2.slice(0, 2)),
  con('2/wrong root1', 6, 8, 'V3JvbmdSb290', R8, C2),
  con('2/wrong root2', 6, 8, R6, 'V3JvbmdSb290', C2),
];
