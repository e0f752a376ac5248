/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    // chalk 5 and @kubernetes/client-node 1.x (with its OIDC dependencies) ship only ES modules;
    // ts-jest (allowJs) turns them into CommonJS for jest.
    '^.+\\.[tj]s$': ['ts-jest', { tsconfig: { allowJs: true, esModuleInterop: true, isolatedModules: true } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!(chalk|@kubernetes/client-node|openid-client|oauth4webapi|jose)/)'],
  testTimeout: 30000,
};
